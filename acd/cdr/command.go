package cdr

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// ReportSetup is what a report takes from the engine's configuration: the
// record directory and the defaults (Targets, ShortAbandon, Location).
type ReportSetup struct {
	Dir  string
	Base Options
}

// ReportCommand is the `hotline report` subcommand: it parses args, reads
// the records and prints the report to stdout. setup loads the
// configuration named by -config ("" = the default one, which is what
// `hotline` with no -config runs); -dir overrides only its record
// directory, so the configured tiers' thresholds and targets still apply.
//
//	hotline report [-config F] [-dir D] [-from T] [-to T] [-interval 15m|1h|24h]
//	               [-by queue|tier|agent|access_number|wrap_up_code|agent_states]
//	               [-totals] [-csv]
//
// -from/-to take RFC 3339 times or dates (2026-11-21); the default is today
// so far (in the setup's Location).
func ReportCommand(args []string, stdout, stderr io.Writer, setup func(configPath string) (ReportSetup, error), now time.Time) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hotline report [flags]\n\nService figures per interval from the call records (or agent state durations).\n\nFlags:")
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "configuration file: record directory, tier targets and thresholds, short-abandon time (default: the embedded demo's)")
	dirFlag := fs.String("dir", "", "record directory (default: the configuration's records)")
	fromS := fs.String("from", "", "start, RFC 3339 or YYYY-MM-DD (default: today 00:00)")
	toS := fs.String("to", "", "end (exclusive), RFC 3339 or YYYY-MM-DD (default: now)")
	interval := fs.Duration("interval", time.Hour, "row length: 15m, 1h or 24h")
	by := fs.String("by", string(ByQueue), "queue, tier, agent, access_number, wrap_up_code or agent_states")
	totals := fs.Bool("totals", false, "add a total row per interval")
	asCSV := fs.Bool("csv", false, "CSV instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("report: unexpected argument %q", fs.Arg(0))
	}
	su, err := setup(*cfgPath)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	dir := su.Dir
	if *dirFlag != "" {
		dir = *dirFlag
	}
	base := su.Base
	loc := base.Location
	if loc == nil {
		loc = time.UTC
	}
	now = now.In(loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	to := now
	if *fromS != "" {
		if from, err = parseWhen(*fromS, loc); err != nil {
			return fmt.Errorf("report: -from: %w", err)
		}
	}
	if *toS != "" {
		if to, err = parseWhen(*toS, loc); err != nil {
			return fmt.Errorf("report: -to: %w", err)
		}
	}
	if !from.Before(to) {
		return errors.New("report: -from must be before -to")
	}
	opt := base
	opt.Interval, opt.Totals, opt.Location = *interval, *totals, loc
	if *by == "agent_states" {
		rows, err := StateReport(ReadLog[AgentStateRecord](dir, AgentStatesPrefix, from, to, nil), opt)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if *asCSV {
			return WriteStateCSV(stdout, rows, loc)
		}
		return WriteStateText(stdout, rows, loc)
	}
	d, err := ParseDimension(*by)
	if err != nil {
		return fmt.Errorf("report: -by: %w", err)
	}
	opt.By = d
	rows, err := Report(Read(dir, from, to), opt)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *asCSV {
		return WriteCSV(stdout, rows, loc)
	}
	return WriteText(stdout, rows, loc)
}

func parseWhen(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}
