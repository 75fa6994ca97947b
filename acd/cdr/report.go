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

// Dimension is what report rows are grouped by within an interval.
type Dimension string

// Dimensions.
const (
	ByQueue        Dimension = "queue"
	ByTier         Dimension = "tier"
	ByAgent        Dimension = "agent"
	ByAccessNumber Dimension = "access_number"
	// ByWrapUpCode groups by the code the agent chose at wrap-up ("" for
	// calls without one: never answered, or the agent chose none).
	ByWrapUpCode Dimension = "wrap_up_code"
)

// ParseDimension accepts the names above.
func ParseDimension(s string) (Dimension, error) {
	switch d := Dimension(s); d {
	case ByQueue, ByTier, ByAgent, ByAccessNumber, ByWrapUpCode:
		return d, nil
	}
	return "", fmt.Errorf("cdr: report dimension %q is not one of queue, tier, agent, access_number, wrap_up_code", s)
}

// Target is one tier's service-level goal: Target share of calls answered
// within Within.
type Target struct {
	Target float64       `json:"target" yaml:"target"`
	Within time.Duration `json:"within" yaml:"within"`
}

// TotalKey is the Key of the per-interval total rows (Options.Totals).
const TotalKey = "(all)"

// DefaultWithin is the answer threshold of tiers without a Target.
const DefaultWithin = 20 * time.Second

// Options shape a report.
type Options struct {
	// Interval is the row length: 15m, 1h or 24h (any whole number of
	// minutes dividing a day works). 1h if zero.
	Interval time.Duration
	// By groups rows within an interval (ByQueue if empty).
	By Dimension
	// Targets per tier give each call its answer threshold and tier rows
	// their target. Tiers not listed use DefaultWithin and have no target.
	Targets map[string]Target
	// ShortAbandon: queue abandons sooner than this are short abandons, as
	// are records flagged short_abandon. Zero trusts the records' flags.
	ShortAbandon time.Duration
	// Totals adds one row per interval over all calls (Key TotalKey).
	Totals bool
	// Location of the interval boundaries (UTC if nil).
	Location *time.Location
}

func (o Options) withDefaults() (Options, error) {
	if o.Interval == 0 {
		o.Interval = time.Hour
	}
	if o.Interval < time.Minute || o.Interval%time.Minute != 0 || (24*time.Hour)%o.Interval != 0 {
		return o, fmt.Errorf("cdr: report interval %v must be whole minutes dividing a day (15m, 1h, 24h)", o.Interval)
	}
	if o.By == "" {
		o.By = ByQueue
	}
	if _, err := ParseDimension(string(o.By)); err != nil {
		return o, err
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	return o, nil
}

// Row is one interval × dimension value. Times are in seconds; the pointer
// fields are nil (JSON null, "-" in text) when there is nothing to average.
type Row struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	By    Dimension `json:"by"`
	Key   string    `json:"key"` // queue, tier, agent, access number or wrap-up code; "" when the call had none

	// Calls counts every call of the interval, including those that never
	// reached a queue (ByAgent: calls offered to the agent).
	Calls int `json:"calls"`
	// Offered: calls that entered a queue, short abandons excluded.
	Offered        int `json:"offered"`
	Answered       int `json:"answered"`
	Abandoned      int `json:"abandoned"` // in the queue, short abandons excluded
	ShortAbandoned int `json:"short_abandoned"`
	AbandonedIVR   int `json:"abandoned_ivr"`
	Overflowed     int `json:"overflowed"`
	// RONA counts offers that rang out, were busy or unreachable.
	RONA int `json:"rona"`

	AnsweredWithin int `json:"answered_within"`
	// WithinSeconds is the tier's threshold on tier rows (0 elsewhere: each
	// call is judged by its own tier's threshold).
	WithinSeconds float64 `json:"within_seconds,omitempty"`
	// ServiceLevel = AnsweredWithin ÷ (Answered + Abandoned).
	ServiceLevel *float64 `json:"service_level"`
	Target       *float64 `json:"target,omitempty"`

	ASA         *float64 `json:"asa_seconds"`
	AvgTalk     *float64 `json:"avg_talk_seconds"`
	AvgHold     *float64 `json:"avg_hold_seconds"`
	AvgWrapUp   *float64 `json:"avg_wrap_up_seconds"`
	SurveyAvg   *float64 `json:"survey_avg"`
	SurveyCount int      `json:"survey_count"`

	// Queued callbacks: requested (the waiting calls that chose one),
	// completed (the customer talked to an agent), failed (never
	// reached); time to callback is the original arrival in the queue →
	// the customer reached, averaged over the completed.
	CallbacksRequested int      `json:"callbacks_requested"`
	CallbacksCompleted int      `json:"callbacks_completed"`
	CallbacksFailed    int      `json:"callbacks_failed"`
	AvgTimeToCallback  *float64 `json:"avg_time_to_callback_seconds"`
}

type acc struct {
	row                            Row
	waitMS, talkMS, holdMS, wrapMS int64
	surveySum                      int64
	callbackMS                     int64
}

type rowKey struct {
	start int64
	key   string
}

// Report aggregates records into rows ordered by interval start, then key
// (the total row first). It stops at the first error of records.
func Report(records iter.Seq2[Record, error], opt Options) ([]Row, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	accs := map[rowKey]*acc{}
	get := func(start time.Time, key string) *acc {
		k := rowKey{start.UnixNano(), key}
		a := accs[k]
		if a == nil {
			a = &acc{row: Row{Start: start, End: start.Add(opt.Interval), By: opt.By, Key: key}}
			accs[k] = a
		}
		return a
	}
	var keys []string
	for rec, err := range records {
		if err != nil {
			return nil, fmt.Errorf("cdr: report: %w", err)
		}
		if rec.Direction == "outbound" {
			continue // campaigns' calls: their own report (the campaign export)
		}
		start := intervalStart(rec.RecordTime(), opt.Interval, opt.Location)
		c := classify(rec, opt)
		if opt.Totals {
			get(start, TotalKey).add(c, rec, "")
		}
		keys = keys[:0]
		switch opt.By {
		case ByQueue:
			keys = append(keys, rec.Queue)
		case ByTier:
			keys = append(keys, rec.Customer.Tier)
		case ByAccessNumber:
			keys = append(keys, rec.AccessNumber)
		case ByWrapUpCode:
			keys = append(keys, rec.WrapUpCode)
		case ByAgent:
			for _, o := range rec.Offers {
				if !slices.Contains(keys, o.Agent) {
					keys = append(keys, o.Agent)
				}
			}
			if rec.Agent != "" && !slices.Contains(keys, rec.Agent) {
				keys = append(keys, rec.Agent)
			}
		}
		for _, k := range keys {
			agent := ""
			if opt.By == ByAgent {
				agent = k
			}
			get(start, k).add(c, rec, agent)
		}
	}
	rows := make([]Row, 0, len(accs))
	for _, a := range accs {
		rows = append(rows, a.finish(opt))
	}
	slices.SortFunc(rows, func(a, b Row) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if (a.Key == TotalKey) != (b.Key == TotalKey) {
			if a.Key == TotalKey {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return rows, nil
}

// Records adapts a slice of records to the input of Report or StateReport.
func Records[T any](recs []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// class is what a record counts as, decided once per record.
type class struct {
	queued, answered, abandoned, short, within bool
}

func classify(r Record, opt Options) class {
	c := class{queued: r.Times.Enqueued != nil || r.Queue != ""}
	wait := time.Duration(r.WaitMS) * time.Millisecond
	switch r.Disposition {
	case Answered:
		c.answered = true
		within := DefaultWithin
		if t, ok := opt.Targets[r.Customer.Tier]; ok && t.Within > 0 {
			within = t.Within
		}
		c.within = wait <= within // the router's rule: exactly n s is within
	case AbandonedQueue:
		c.short = r.ShortAbandon || wait < opt.ShortAbandon
		c.abandoned = !c.short
	case Unreached:
		// A callback never reached: the caller it replaced was not
		// served, as the ACD's service level counts it.
		c.abandoned = true
	case CallbackRequested, Withdrawn:
		// The callback's own record carries the offer on.
		c.queued = false
	}
	return c
}

// add counts rec into a; agent is set on ByAgent rows, where only the
// agent's own offers and answers count.
func (a *acc) add(c class, r Record, agent string) {
	row := &a.row
	row.Calls++
	if agent != "" {
		answeredHere := c.answered && r.Agent == agent
		abandonedHere := false
		for _, o := range r.Offers {
			if o.Agent != agent {
				continue
			}
			if o.Outcome.RONA() {
				row.RONA++
			}
			// The caller gave up while this agent's phone rang.
			if o.Outcome == OfferCancelled && c.abandoned {
				abandonedHere = true
			}
		}
		if c.short || !c.queued {
			if c.short {
				row.ShortAbandoned++
			}
			return
		}
		row.Offered++
		if answeredHere {
			a.answered(c, r)
		}
		if abandonedHere {
			row.Abandoned++
		}
		return
	}
	for _, o := range r.Offers {
		if o.Outcome.RONA() {
			row.RONA++
		}
	}
	if r.Disposition == AbandonedIVR {
		row.AbandonedIVR++
	}
	if r.Disposition == Overflowed {
		row.Overflowed++
	}
	if c.short {
		row.ShortAbandoned++
	} else if c.queued {
		row.Offered++
	}
	if c.abandoned {
		row.Abandoned++
	}
	if c.answered {
		a.answered(c, r)
	}
	if r.SurveyScore != nil {
		row.SurveyCount++
		a.surveySum += int64(*r.SurveyScore)
	}
	switch {
	case r.Disposition == CallbackRequested:
		row.CallbacksRequested++
	case r.Callback != nil && c.answered:
		row.CallbacksCompleted++
		a.callbackMS += r.WaitMS
	case r.Callback != nil && r.Disposition == Unreached:
		row.CallbacksFailed++
	}
}

func (a *acc) answered(c class, r Record) {
	a.row.Answered++
	if c.within {
		a.row.AnsweredWithin++
	}
	a.waitMS += r.WaitMS
	a.talkMS += r.TalkMS
	a.holdMS += r.HoldMS
	a.wrapMS += r.WrapUpMS
	if r.SurveyScore != nil && a.row.By == ByAgent {
		// On agent rows the survey scores the agent who answered.
		a.row.SurveyCount++
		a.surveySum += int64(*r.SurveyScore)
	}
}

func (a *acc) finish(opt Options) Row {
	row := a.row
	if den := row.Answered + row.Abandoned; den > 0 {
		row.ServiceLevel = ptr(float64(row.AnsweredWithin) / float64(den))
	}
	if row.By == ByTier && row.Key != TotalKey {
		if t, ok := opt.Targets[row.Key]; ok {
			row.Target = ptr(t.Target)
			row.WithinSeconds = t.Within.Seconds()
		} else {
			row.WithinSeconds = DefaultWithin.Seconds()
		}
	}
	if n := row.Answered; n > 0 {
		sec := func(ms int64) *float64 { return ptr(float64(ms) / 1000 / float64(n)) }
		row.ASA, row.AvgTalk, row.AvgHold, row.AvgWrapUp = sec(a.waitMS), sec(a.talkMS), sec(a.holdMS), sec(a.wrapMS)
	}
	if row.SurveyCount > 0 {
		row.SurveyAvg = ptr(float64(a.surveySum) / float64(row.SurveyCount))
	}
	if n := row.CallbacksCompleted; n > 0 {
		row.AvgTimeToCallback = ptr(float64(a.callbackMS) / 1000 / float64(n))
	}
	return row
}

func ptr(f float64) *float64 { return &f }

// intervalStart is the start of the interval holding t, counted from local
// midnight so that 15m/1h/24h rows line up with the wall clock.
func intervalStart(t time.Time, iv time.Duration, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	return midnight.Add(t.Sub(midnight) / iv * iv)
}

var columns = []string{
	"start", "by", "key", "calls", "offered", "answered", "abandoned", "short_abandoned",
	"abandoned_ivr", "overflowed", "rona", "answered_within", "within_s", "service_level",
	"target", "asa_s", "avg_talk_s", "avg_hold_s", "avg_wrap_up_s", "survey_avg", "survey_count",
	"callbacks_requested", "callbacks_completed", "callbacks_failed", "avg_time_to_callback_s",
}

func (r Row) fields(text bool, loc *time.Location) []string {
	num := func(p *float64, prec int) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', prec, 64)
	}
	frac := func(p *float64) string {
		if p == nil {
			return "-"
		}
		if text {
			return strconv.FormatFloat(*p*100, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(*p, 'f', 4, 64)
	}
	start := r.Start.In(loc).Format(time.RFC3339)
	key := r.Key
	if text {
		start = r.Start.In(loc).Format("2006-01-02 15:04")
		if key == "" {
			key = "-"
		}
	}
	within := "-"
	if r.WithinSeconds > 0 {
		within = strconv.FormatFloat(r.WithinSeconds, 'f', -1, 64)
	}
	itoa := strconv.Itoa
	return []string{
		start, string(r.By), key, itoa(r.Calls), itoa(r.Offered), itoa(r.Answered), itoa(r.Abandoned),
		itoa(r.ShortAbandoned), itoa(r.AbandonedIVR), itoa(r.Overflowed), itoa(r.RONA), itoa(r.AnsweredWithin),
		within, frac(r.ServiceLevel), frac(r.Target), num(r.ASA, 1), num(r.AvgTalk, 1), num(r.AvgHold, 1),
		num(r.AvgWrapUp, 1), num(r.SurveyAvg, 2), itoa(r.SurveyCount),
		itoa(r.CallbacksRequested), itoa(r.CallbacksCompleted), itoa(r.CallbacksFailed), num(r.AvgTimeToCallback, 1),
	}
}

// WriteCSV writes rows with a header line. Shares are fractions (0.8571),
// times seconds, absent values "-"; start is RFC 3339 in loc (UTC if nil).
func WriteCSV(w io.Writer, rows []Row, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return fmt.Errorf("cdr: write report CSV: %w", err)
	}
	for _, r := range rows {
		if err := cw.Write(r.fields(false, loc)); err != nil {
			return fmt.Errorf("cdr: write report CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("cdr: write report CSV: %w", err)
	}
	return nil
}

// WriteText writes rows as an aligned table for a terminal; shares are
// percentages.
func WriteText(w io.Writer, rows []Row, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(f []string) {
		for _, s := range f {
			io.WriteString(tw, s+"\t")
		}
		io.WriteString(tw, "\n")
	}
	line(columns)
	for _, r := range rows {
		line(r.fields(true, loc))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cdr: write report table: %w", err)
	}
	return nil
}
