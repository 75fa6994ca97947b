package cdr

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// StateRow is the time one agent spent in one state within one interval.
type StateRow struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Agent   string    `json:"agent"`
	State   string    `json:"state"`
	Spells  int       `json:"spells"`  // spells that began in the interval
	Seconds float64   `json:"seconds"` // time in the state within the interval
	Share   float64   `json:"share"`   // Seconds ÷ the agent's logged-in seconds in the interval
}

// StateReport sums the agent state log per interval, agent and state. A
// spell that crosses an interval boundary is split at it, so an hour's
// states add up to the agent's logged-in time in that hour. Share is of
// the agent's time in the interval in any state but logged-out. Only
// opt.Interval and opt.Location are used.
func StateReport(spells iter.Seq2[AgentStateRecord, error], opt Options) ([]StateRow, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	type key struct {
		start        int64
		agent, state string
	}
	type agentKey struct {
		start int64
		agent string
	}
	acc := map[key]*StateRow{}
	loggedIn := map[agentKey]time.Duration{}
	for s, err := range spells {
		if err != nil {
			return nil, fmt.Errorf("cdr: state report: %w", err)
		}
		if !s.End.After(s.Start) {
			continue
		}
		first := true
		for from := s.Start; from.Before(s.End); {
			start := intervalStart(from, opt.Interval, opt.Location)
			end := start.Add(opt.Interval)
			to := end
			if s.End.Before(end) {
				to = s.End
			}
			k := key{start.UnixNano(), s.Agent, s.State}
			row := acc[k]
			if row == nil {
				row = &StateRow{Start: start, End: end, Agent: s.Agent, State: s.State}
				acc[k] = row
			}
			if first {
				row.Spells++
				first = false
			}
			d := to.Sub(from)
			row.Seconds += d.Seconds()
			if s.State != "logged-out" {
				loggedIn[agentKey{start.UnixNano(), s.Agent}] += d
			}
			from = to
		}
	}
	rows := make([]StateRow, 0, len(acc))
	for k, r := range acc {
		if li := loggedIn[agentKey{k.start, k.agent}]; li > 0 && r.State != "logged-out" {
			r.Share = r.Seconds / li.Seconds()
		}
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b StateRow) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.State, b.State))
	})
	return rows, nil
}

// WriteStateCSV writes state rows with a header line.
func WriteStateCSV(w io.Writer, rows []StateRow, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"start", "agent", "state", "spells", "seconds", "share"})
	for _, r := range rows {
		_ = cw.Write([]string{r.Start.In(loc).Format(time.RFC3339), r.Agent, r.State, strconv.Itoa(r.Spells),
			strconv.FormatFloat(r.Seconds, 'f', 1, 64), strconv.FormatFloat(r.Share, 'f', 4, 64)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("cdr: write state report CSV: %w", err)
	}
	return nil
}

// WriteStateText writes state rows as an aligned table for a terminal:
// times as h:mm:ss, shares as percentages.
func WriteStateText(w io.Writer, rows []StateRow, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	io.WriteString(tw, "start\tagent\tstate\tspells\ttime\tshare\t\n")
	for _, r := range rows {
		secs := int64(r.Seconds + 0.5)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d:%02d:%02d\t%s\t\n", r.Start.In(loc).Format("2006-01-02 15:04"), r.Agent, r.State, r.Spells,
			secs/3600, secs%3600/60, secs%60, strconv.FormatFloat(r.Share*100, 'f', 1, 64)+"%")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cdr: write state report table: %w", err)
	}
	return nil
}
