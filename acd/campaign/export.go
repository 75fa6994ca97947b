package campaign

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Column order of the exports. Script answers follow as "q:<id>" in
// script order, then the dnc column.
var (
	resultColumns  = []string{"id", "number", "name", "region", "tier", "status", "attempts", "last_outcome", "last_cause", "agent", "answered_at", "talk_seconds", "wrap_up"}
	attemptColumns = []string{"campaign", "contact_id", "number", "seq", "attempt", "call_id", "agent", "started_at", "answered_at", "ended_at", "outcome", "cause", "talk_seconds", "wrap_up"}
)

// ExportResults writes one CSV row per contact, in list order: the
// contact, its state ("pending", "retry-wait", "done", ...), counted
// attempts, last outcome and cause, and from its last attempt that reached
// the customer (else its last attempt) the agent, answer time, talk
// seconds, wrap-up code and script answers; dnc is yes when the number is
// on the do-not-call list. Times are RFC 3339 in the campaign's zone.
func (r *Runner) ExportResults(w io.Writer) error {
	x := r.newExport(w, resultColumns)
	for _, c := range r.Contacts() {
		p := c.Progress
		var last AttemptRecord
		for _, h := range p.History {
			if h.Outcome == Skipped || h.Outcome == NoAgent {
				continue
			}
			if !last.Answered.IsZero() && h.Answered.IsZero() {
				continue
			}
			last = h
		}
		row := []string{c.ID, c.Number, c.Name, c.Region, c.Tier, string(p.State), strconv.Itoa(p.Attempts),
			string(p.LastOutcome), p.LastCause, last.Agent, r.timeString(last.Answered), seconds(last.Talk), last.WrapUp}
		x.row(row, last.Answers, c.DNC)
	}
	return x.done()
}

// ExportAttempts writes one CSV row per attempt, skipped preview and
// attempt the engine could not place (no_agent), contacts in list order
// and each contact's in time order; seq numbers a contact's rows, attempt
// is the dial attempt it was (0 for no_agent).
func (r *Runner) ExportAttempts(w io.Writer) error {
	x := r.newExport(w, attemptColumns)
	for _, c := range r.Contacts() {
		for i, h := range c.Progress.History {
			row := []string{r.spec.Name, c.ID, c.Number, strconv.Itoa(i + 1), strconv.Itoa(h.Attempt), h.CallID, h.Agent,
				r.timeString(h.Started), r.timeString(h.Answered), r.timeString(h.Ended), string(h.Outcome), h.Cause,
				seconds(h.Talk), h.WrapUp}
			x.row(row, h.Answers, h.DNC)
		}
	}
	return x.done()
}

// export writes one of the campaign's CSV exports: the given columns, then
// a "q:<id>" column per script question and the dnc column, on every row.
type export struct {
	r   *Runner
	cw  *csv.Writer
	err error
}

func (r *Runner) newExport(w io.Writer, columns []string) *export {
	x := &export{r: r, cw: csv.NewWriter(w)}
	header := append([]string(nil), columns...)
	for _, q := range r.spec.Script {
		header = append(header, "q:"+q.ID)
	}
	x.write(append(header, "dnc"))
	return x
}

// row writes fields followed by the script's answers and the dnc flag.
func (x *export) row(fields []string, answers map[string]string, dnc bool) {
	for _, q := range x.r.spec.Script {
		fields = append(fields, answers[q.ID])
	}
	x.write(append(fields, yesNo(dnc)))
}

func (x *export) write(fields []string) {
	if x.err == nil {
		x.err = x.cw.Write(fields)
	}
}

func (x *export) done() error {
	x.cw.Flush()
	if x.err == nil {
		x.err = x.cw.Error()
	}
	if x.err != nil {
		return fmt.Errorf("campaign %s: export: %w", x.r.spec.Name, x.err)
	}
	return nil
}

func (r *Runner) timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(r.spec.Location).Format(time.RFC3339)
}

func seconds(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
