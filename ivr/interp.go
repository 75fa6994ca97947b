package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxQuietSteps bounds how many nodes a call may pass without waiting for
// input. Validation rejects such loops inside a flow; this catches loops
// across flows (transfers) and anything validation missed.
const maxQuietSteps = 256

// Interpreter runs flows. Its fields are the engine's adapters; nil ones make
// the matching nodes take their failure path. One Interpreter serves every
// call concurrently; it is not modified by Run.
type Interpreter struct {
	Prompts    Prompts
	Lookup     Lookup
	Queuer     Queuer
	Transferer Transferer
	Flows      FlowSource
	// RecordDir receives record-node files: <RecordDir>/<call>-<node>-<n>.wav.
	RecordDir string
	// Now is the clock for business-hours rules and trace stamps; nil = time.Now.
	Now func() time.Time
	// DigitLatency, if set, receives for every digit that leads to a prompt
	// the time from the digit's arrival to that prompt's Play call.
	DigitLatency func(time.Duration)
	Logger       *slog.Logger
}

// Call is one caller entering a flow.
type Call struct {
	ID  string
	Leg Leg
	// Language picks the prompt directory; "" = the flow's language.
	Language string
	// Vars seeds the call variables (copied). The interpreter adds caller,
	// dialled, call_id and flow.
	Vars map[string]string
	// Trace seeds the trace (copied) when a call comes back into the IVR,
	// so the call record keeps one path.
	Trace []TraceEntry
}

// maxTraceEntries bounds a trace: a caller parked for hours with position
// announcements must not grow the call record without end.
const maxTraceEntries = 1000

// Outcome says how the IVR part of a call ended.
type Outcome string

// Outcomes of Run.
const (
	OutcomeHangup       Outcome = "hangup"        // the flow hung up (hangup node or end of flow)
	OutcomeCallerHangup Outcome = "caller_hangup" // the caller left (ctx cancelled)
	OutcomeTransferred  Outcome = "transferred"   // the call left the IVR by transfer
	OutcomeCallback     Outcome = "callback"      // the caller asked to be called back, keeping its place
	OutcomeError        Outcome = "error"
)

// Result is what Run leaves for the call record. It marshals to JSON.
type Result struct {
	CallID      string            `json:"call_id"`
	Flow        string            `json:"flow"`
	Outcome     Outcome           `json:"outcome"`
	LastNode    string            `json:"last_node"`
	Vars        map[string]string `json:"vars"`
	Trace       []TraceEntry      `json:"trace"`
	Recordings  []string          `json:"recordings,omitempty"`
	SurveyScore int               `json:"survey_score,omitempty"`
	Queue       string            `json:"queue,omitempty"`
	Agent       string            `json:"agent,omitempty"`
}

// Run drives one call through f from its start node until the call hangs
// up, is transferred away, or the flow ends. The caller hanging up must be
// signalled by cancelling ctx. The Result is never nil; the error is set only
// when the IVR itself failed.
func (in *Interpreter) Run(ctx context.Context, f *Flow, call *Call) (*Result, error) {
	return in.RunFrom(ctx, f, call, "")
}

// RunFrom is Run starting at node (f.Start if ""). The engine uses it to
// bring a call back into a flow, e.g. an agent transferring the caller to
// a survey node.
func (in *Interpreter) RunFrom(ctx context.Context, f *Flow, call *Call, node string) (*Result, error) {
	if f == nil || call == nil || call.Leg == nil {
		return &Result{Outcome: OutcomeError}, errors.New("ivr: run needs a flow, a call and its leg")
	}
	if node == "" {
		node = f.Start
	}
	r := &run{in: in, ctx: ctx, call: call, flow: f, vars: map[string]string{}}
	maps.Copy(r.vars, call.Vars)
	r.vars["caller"] = call.Leg.CallerNumber()
	r.vars["dialled"] = call.Leg.Dialled()
	r.vars["call_id"] = call.ID
	r.vars["flow"] = f.Name
	r.log = in.logger().With("call", call.ID)
	r.res = &Result{CallID: call.ID}
	r.trace = append([]TraceEntry(nil), call.Trace...)
	r.digits = call.Leg.Digits()

	err := r.loop(node)
	r.res.Flow = r.flow.Name
	r.res.Vars = r.vars
	if r.traceDropped > 0 {
		r.trace = append(r.trace, TraceEntry{At: in.now().UTC(), Flow: r.flow.Name, Event: EvTruncated,
			Detail: map[string]string{"dropped": strconv.Itoa(r.traceDropped)}})
	}
	r.res.Trace = r.trace
	if err != nil {
		r.res.Outcome = OutcomeError
		r.log.Error("ivr: call failed", "flow", r.flow.Name, "node", r.res.LastNode, "err", err)
		// Never leave a caller in silence: the IVR cannot go on, so it ends the call.
		if ctx.Err() == nil {
			if herr := call.Leg.Hangup(ctx, "ivr error"); herr != nil {
				r.log.Warn("ivr: hangup after error failed", "err", herr)
			}
		}
	}
	return r.res, err
}

func (in *Interpreter) logger() *slog.Logger {
	if in.Logger != nil {
		return in.Logger
	}
	return slog.Default()
}

func (in *Interpreter) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// run is the state of one call; only its own goroutine touches it.
type run struct {
	in    *Interpreter
	ctx   context.Context
	call  *Call
	flow  *Flow
	vars  map[string]string
	trace []TraceEntry
	// traceDropped counts entries past maxTraceEntries.
	traceDropped int
	digits       <-chan rune
	typeahead    []digit
	// lastDigit is the arrival of the digit that moved the call on; the next
	// prompt started closes the latency measurement.
	lastDigit time.Time
	recorded  int
	// pendingCallback is the callback a queue node's callback digit
	// made, for the callback node to confirm.
	pendingCallback Callback
	res             *Result
	log             *slog.Logger
}

// errCallerGone ends the loop when ctx is cancelled.
var errCallerGone = errors.New("caller hung up")

func (r *run) loop(id string) error {
	quiet := 0
	for id != "" {
		nd := r.flow.Nodes[id]
		if nd == nil {
			return fmt.Errorf("flow %q: node %q does not exist", r.flow.Name, id)
		}
		r.res.LastNode = id
		if r.ctx.Err() != nil {
			r.finishCallerGone(nd)
			return nil
		}
		if nd.Type.waitsForInput() {
			quiet = 0
		} else if quiet++; quiet > maxQuietSteps {
			return fmt.Errorf("flow %q: %d nodes passed without waiting for input (loop through %q)", r.flow.Name, quiet, id)
		}
		r.traceAdd(nd, EvEnter, "", nil)
		next, err := r.exec(nd)
		switch {
		case errors.Is(err, errCallerGone):
			r.finishCallerGone(nd)
			return nil
		case err != nil:
			r.traceAdd(nd, EvError, "", map[string]string{"error": err.Error()})
			return fmt.Errorf("flow %q node %q: %w", r.flow.Name, id, err)
		}
		id = next
	}
	if r.res.Outcome == "" {
		// The flow ran out of nodes with the caller still there.
		r.hangup(nil, "end of flow")
	}
	return nil
}

func (r *run) finishCallerGone(nd *Node) {
	r.res.Outcome = OutcomeCallerHangup
	r.traceAdd(nd, EvCallerHangup, "", nil)
}

func (r *run) exec(nd *Node) (string, error) {
	switch nd.Type {
	case TypePlay:
		return nd.Next, r.play(nd.Prompts, nd.BargeIn)
	case TypeMenu:
		return r.menu(nd)
	case TypeCollect:
		return r.collect(nd)
	case TypeLookup:
		return nd.Next, r.lookup(nd)
	case TypeBranch:
		return r.branch(nd), nil
	case TypeSet:
		for k, v := range nd.Assign {
			r.vars[k] = r.expand(v)
		}
		return nd.Next, nil
	case TypeSay:
		return nd.Next, r.say(nd)
	case TypeQueue:
		return r.queue(nd)
	case TypeTransfer:
		return r.transfer(nd)
	case TypeRecord:
		return nd.Next, r.record(nd)
	case TypeSurvey:
		return r.survey(nd)
	case TypeCallback:
		return r.callback(nd)
	case TypeHangup:
		if err := r.play(nd.Prompts, ""); err != nil {
			return "", err
		}
		r.hangup(nd, nd.Reason)
		return "", nil
	}
	return "", fmt.Errorf("unknown node type %q", nd.Type)
}

func (r *run) hangup(nd *Node, reason string) {
	if reason == "" {
		reason = "ivr"
	}
	if nd == nil {
		nd = r.flow.Nodes[r.res.LastNode]
	}
	r.res.Outcome = OutcomeHangup
	r.traceAdd(nd, EvHangup, "", map[string]string{"reason": reason})
	if err := r.call.Leg.Hangup(r.ctx, reason); err != nil {
		r.log.Warn("ivr: hangup failed", "err", err)
	}
}

func (r *run) traceAdd(nd *Node, event, digits string, detail map[string]string) {
	if len(r.trace) >= maxTraceEntries {
		r.traceDropped++
		return
	}
	e := TraceEntry{At: r.in.now().UTC(), Flow: r.flow.Name, Event: event, Digits: digits, Detail: detail}
	if nd != nil {
		e.Node, e.Type = nd.ID, nd.Type
	}
	r.trace = append(r.trace, e)
}

func (r *run) snapshot() []TraceEntry { return append([]TraceEntry(nil), r.trace...) }

var templateRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_.]*)\}`)

// expand replaces ${var} with the call variable (empty when unset).
func (r *run) expand(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return templateRe.ReplaceAllStringFunc(s, func(m string) string { return r.vars[m[2:len(m)-1]] })
}

// ---- media helpers ----

// playback is one asynchronous Play; its goroutine ends when the prompts end
// or stop is called.
type playback struct {
	cancel context.CancelFunc
	done   chan struct{} // nil when there was nothing to play
	err    error
}

func (pb *playback) stop() {
	if pb == nil || pb.done == nil {
		return
	}
	pb.cancel()
	<-pb.done
}

func (r *run) resolve(names []string) []string {
	files := make([]string, 0, len(names))
	lang := r.language()
	for _, n := range names {
		if n == "" { // e.g. beep: "" — no beep
			continue
		}
		if r.in.Prompts == nil {
			files = append(files, n)
			continue
		}
		f, err := r.in.Prompts.Resolve(lang, n)
		if err != nil {
			r.log.Warn("ivr: prompt skipped", "prompt", n, "err", err)
			continue
		}
		files = append(files, f)
	}
	return files
}

// startPlay starts the prompts in the background; it closes the open digit
// latency measurement, since this is the prompt the caller waits for.
func (r *run) startPlay(names []string) *playback {
	files := r.resolve(names)
	if len(files) == 0 {
		return &playback{cancel: func() {}}
	}
	if !r.lastDigit.IsZero() {
		if r.in.DigitLatency != nil {
			r.in.DigitLatency(time.Since(r.lastDigit))
		}
		r.lastDigit = time.Time{}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	pb := &playback{cancel: cancel, done: make(chan struct{})}
	finish := func(err error) {
		if err != nil && ctx.Err() == nil {
			pb.err = err
		}
		cancel()
		close(pb.done)
	}
	if ps, ok := r.call.Leg.(PlayStarter); ok {
		ps.StartPlay(ctx, finish, files...)
		return pb
	}
	go func() { finish(r.call.Leg.Play(ctx, files...)) }()
	return pb
}

// digit is a key as the interpreter read it; at starts the
// digit → next prompt latency clock.
type digit struct {
	key rune
	at  time.Time
}

func keyAt(k rune) digit { return digit{key: k, at: time.Now()} }

// moved records that d made the call move on (latency clock start).
func (r *run) moved(d digit) { r.lastDigit = d.at }

// play plays prompts to the end, or until a barge-in digit (kept as
// type-ahead for the next input node). Other digits are discarded, as a
// caller pressing keys during an announcement expects nothing from them.
func (r *run) play(names []string, bargeIn string) error {
	pb := r.startPlay(names)
	if pb.done == nil {
		return nil
	}
	defer pb.stop()
	for {
		select {
		case <-r.ctx.Done():
			return errCallerGone
		case <-pb.done:
			if pb.err != nil {
				r.log.Warn("ivr: play failed", "err", pb.err)
			}
			r.drainDuringPrompt(bargeIn)
			return nil
		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				continue
			}
			if bargeIn != "" && strings.ContainsRune(bargeIn, k) {
				r.typeahead = append(r.typeahead, keyAt(k))
				return nil
			}
		}
	}
}

// drainDuringPrompt applies the prompt's barge-in rule to keys that
// arrived while it played but were not read before it ended.
func (r *run) drainDuringPrompt(bargeIn string) {
	for {
		select {
		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				return
			}
			if bargeIn != "" && strings.ContainsRune(bargeIn, k) {
				r.typeahead = append(r.typeahead, keyAt(k))
				return
			}
		default:
			return
		}
	}
}

type waitResult int

const (
	gotDigit waitResult = iota
	gotTimeout
	gotHangup
)

// ask plays the prompts and waits for one digit (any digit cuts the
// prompt); the timeout starts when the prompts end. A type-ahead digit
// answers at once, without playing.
func (r *run) ask(names []string, timeout time.Duration) (digit, waitResult) {
	if len(r.typeahead) > 0 {
		d := r.typeahead[0]
		r.typeahead = r.typeahead[1:]
		return d, gotDigit
	}
	return r.await(r.startPlay(names), timeout)
}

// await waits for one digit while pb plays; the timeout starts when the
// prompt ends (immediately if pb is nil).
func (r *run) await(pb *playback, timeout time.Duration) (digit, waitResult) {
	defer pb.stop()
	if len(r.typeahead) > 0 {
		d := r.typeahead[0]
		r.typeahead = r.typeahead[1:]
		return d, gotDigit
	}
	var playDone <-chan struct{}
	var timer *time.Timer
	var timeoutC <-chan time.Time
	if pb != nil && pb.done != nil {
		playDone = pb.done
	} else {
		timer = time.NewTimer(timeout)
		timeoutC = timer.C
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-r.ctx.Done():
			return digit{}, gotHangup
		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				continue
			}
			return keyAt(k), gotDigit
		case <-playDone:
			playDone = nil
			timer = time.NewTimer(timeout)
			timeoutC = timer.C
		case <-timeoutC:
			return digit{}, gotTimeout
		}
	}
}

// ---- nodes ----

func (r *run) menu(nd *Node) (string, error) {
	prompts := nd.Prompts
	for tries := 1; ; tries++ {
		d, res := r.ask(prompts, nd.Timeout)
		switch res {
		case gotHangup:
			return "", errCallerGone
		case gotDigit:
			key := string(d.key)
			r.moved(d)
			if target, ok := nd.Options[key]; ok {
				r.traceAdd(nd, EvChoice, key, map[string]string{"goto": target})
				return target, nil
			}
			r.traceAdd(nd, EvInvalid, key, nil)
			prompts = concat(nd.Invalid, nd.Prompts)
		case gotTimeout:
			r.traceAdd(nd, EvNoInput, "", nil)
			prompts = concat(nd.NoInput, nd.Prompts)
		}
		if tries >= nd.Retries {
			r.traceAdd(nd, EvRetriesOut, "", map[string]string{"goto": nd.Default})
			return nd.Default, nil
		}
	}
}

func concat(a, b []string) []string { return append(append([]string(nil), a...), b...) }

func (r *run) collect(nd *Node) (string, error) {
	prompts := nd.Prompts
	for tries := 1; ; tries++ {
		var buf []byte
		var last digit
		d, res := r.ask(prompts, nd.Timeout)
		for res == gotDigit {
			last = d
			if nd.Terminator != "" && d.key == rune(nd.Terminator[0]) {
				break
			}
			buf = append(buf, byte(d.key))
			if len(buf) >= nd.MaxDigits {
				break
			}
			d, res = r.await(nil, nd.InterDigit)
		}
		value := string(buf)
		shown := value
		if nd.Secret {
			shown = strings.Repeat("*", len(value))
		}
		switch {
		case res == gotHangup:
			return "", errCallerGone
		case res == gotTimeout && len(buf) == 0 && last.key == 0:
			r.traceAdd(nd, EvNoInput, "", nil)
			prompts = concat(nd.NoInput, nd.Prompts)
		case len(buf) >= nd.MinDigits && (nd.Pattern == nil || nd.Pattern.MatchString(value)):
			r.vars[nd.Var] = value
			r.traceAdd(nd, EvCollected, shown, map[string]string{"var": nd.Var})
			if last.key != 0 {
				r.moved(last)
			}
			return nd.Next, nil
		default:
			r.traceAdd(nd, EvInvalid, shown, nil)
			if last.key != 0 {
				r.moved(last)
			}
			prompts = concat(nd.Invalid, nd.Prompts)
		}
		if tries >= nd.Retries {
			r.traceAdd(nd, EvRetriesOut, "", map[string]string{"goto": nd.Failure})
			return nd.Failure, nil
		}
	}
}

func (r *run) survey(nd *Node) (string, error) {
	prompts := nd.Prompts
	for tries := 1; ; tries++ {
		d, res := r.ask(prompts, nd.Timeout)
		switch res {
		case gotHangup:
			return "", errCallerGone
		case gotDigit:
			r.moved(d)
			if score := int(d.key - '0'); d.key >= '0' && d.key <= '9' && score >= nd.Min && score <= nd.Max {
				r.vars[nd.Var] = strconv.Itoa(score)
				r.res.SurveyScore = score
				r.traceAdd(nd, EvSurvey, string(d.key), map[string]string{"score": strconv.Itoa(score)})
				return nd.Next, r.play(nd.Thanks, "")
			}
			r.traceAdd(nd, EvInvalid, string(d.key), nil)
			prompts = concat(nd.Invalid, nd.Prompts)
		case gotTimeout:
			r.traceAdd(nd, EvNoInput, "", nil)
			prompts = concat(nd.NoInput, nd.Prompts)
		}
		if tries >= nd.Retries {
			r.traceAdd(nd, EvRetriesOut, "", map[string]string{"goto": nd.Next})
			return nd.Next, nil
		}
	}
}

func (r *run) lookup(nd *Node) error {
	key := r.vars["caller"]
	if nd.By == "var" {
		key = r.vars[nd.KeyVar]
	}
	start := time.Now()
	cust, err := r.lookupWithTimeout(nd.Timeout, key)
	ms := strconv.FormatInt(time.Since(start).Milliseconds(), 10)
	if r.ctx.Err() != nil {
		return errCallerGone
	}
	result := "found"
	switch {
	case errors.Is(err, ErrNotFound):
		result = "not_found"
		cust.Tier = nd.DefaultTier
	case err != nil:
		// A degraded answer may still carry what the adapter could tell
		// (a region from the number prefix); the tier is the flow's default.
		result = "failed"
		r.log.Warn("ivr: customer lookup failed; default tier", "key", key, "err", err)
		cust.Tier = nd.DefaultTier
		r.vars["lookup_failed"] = "true"
	}
	if cust.Tier == "" {
		cust.Tier = nd.DefaultTier
	}
	r.vars["lookup"] = result
	r.vars["tier"] = cust.Tier
	r.vars["region"] = cust.Region
	r.vars["name"] = cust.Name
	r.vars["customer_id"] = cust.ID
	r.vars["blacklisted"] = strconv.FormatBool(cust.Blacklisted)
	for k, v := range cust.Attributes {
		r.vars["attr_"+k] = v
	}
	detail := map[string]string{"result": result, "key": key, "tier": cust.Tier, "region": cust.Region,
		"name": cust.Name, "blacklisted": strconv.FormatBool(cust.Blacklisted), "ms": ms}
	if err != nil && result == "failed" {
		detail["error"] = err.Error()
	}
	r.traceAdd(nd, EvLookup, "", detail)
	return nil
}

// lookupWithTimeout does not trust the CRM adapter to honour ctx: the
// caller must not hear silence because a lookup hangs.
func (r *run) lookupWithTimeout(timeout time.Duration, key string) (Customer, error) {
	if r.in.Lookup == nil {
		return Customer{}, errors.New("no CRM configured")
	}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	type answer struct {
		c   Customer
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		c, err := r.in.Lookup.Lookup(ctx, key)
		ch <- answer{c, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return a.c, fmt.Errorf("lookup %q: %w", key, a.err)
		}
		return a.c, nil
	case <-ctx.Done():
		return Customer{}, fmt.Errorf("lookup %q: timed out after %s", key, timeout)
	}
}

func (r *run) branch(nd *Node) string {
	for i, rule := range nd.Rules {
		if r.matches(rule) {
			r.traceAdd(nd, EvBranch, "", map[string]string{"rule": strconv.Itoa(i + 1), "goto": rule.Goto})
			return rule.Goto
		}
	}
	r.traceAdd(nd, EvBranch, "", map[string]string{"rule": "default", "goto": nd.Default})
	return nd.Default
}

func (r *run) matches(rule Rule) bool {
	if len(rule.Tiers) > 0 {
		found := false
		for _, t := range rule.Tiers {
			found = found || t == r.vars["tier"]
		}
		if !found {
			return false
		}
	}
	for k, v := range rule.Vars {
		if r.vars[k] != r.expand(v) {
			return false
		}
	}
	if rule.Caller != nil && !rule.Caller.MatchString(r.vars["caller"]) {
		return false
	}
	if rule.Dialled != nil && !rule.Dialled.MatchString(r.vars["dialled"]) {
		return false
	}
	if rule.Open != "" && !r.flow.Calendars[rule.Open].Open(r.in.now()) {
		return false
	}
	if rule.Closed != "" && r.flow.Calendars[rule.Closed].Open(r.in.now()) {
		return false
	}
	return true
}

func (r *run) say(nd *Node) error {
	var words []string
	var ok bool
	sp := r.speaker()
	switch {
	case nd.SayDigits != "":
		words, ok = sp.digits(r.expand(nd.SayDigits))
	case nd.SayNumber != "":
		words, ok = sp.number(r.expand(nd.SayNumber))
	case nd.SayMoney != "":
		words, ok = sp.money(r.expand(nd.SayMoney))
	default:
		words, ok = sp.duration(r.expand(nd.SayDuration))
	}
	if !ok {
		r.log.Warn("ivr: nothing to say", "node", nd.ID, "digits", nd.SayDigits, "number", nd.SayNumber, "money", nd.SayMoney, "duration", nd.SayDuration)
	}
	return r.play(concat(concat(nd.Prompts, words), nd.After), "")
}

// language is the call's prompt language.
func (r *run) language() string {
	if r.call.Language != "" {
		return r.call.Language
	}
	return r.flow.Language
}

// speaker reads numbers in the call's prompt language.
func (r *run) speaker() speaker { return speakerFor(r.language()) }

func (r *run) record(nd *Node) error {
	if err := r.play(concat(nd.Prompts, []string{nd.Beep}), ""); err != nil {
		return err
	}
	r.recorded++
	path := filepath.Join(r.in.RecordDir, fmt.Sprintf("%s-%s-%d.wav", safeName(r.call.ID), safeName(nd.ID), r.recorded))
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	type answer struct {
		d   time.Duration
		err error
	}
	done := make(chan answer, 1)
	go func() {
		d, err := r.call.Leg.Record(ctx, path, nd.MaxLength, nd.Silence)
		done <- answer{d, err}
	}()
	var a answer
	var stopped string
wait:
	for {
		select {
		case a = <-done:
			break wait
		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				continue
			}
			if nd.StopDigit != "" && k == rune(nd.StopDigit[0]) {
				stopped = nd.StopDigit
				r.moved(keyAt(k))
				cancel()
			}
		}
	}
	if a.err != nil {
		r.log.Warn("ivr: recording failed", "path", path, "err", a.err)
		r.traceAdd(nd, EvError, "", map[string]string{"error": a.err.Error(), "path": path})
	} else {
		r.vars[nd.Var] = path
		r.res.Recordings = append(r.res.Recordings, path)
		r.traceAdd(nd, EvRecorded, stopped, map[string]string{"path": path, "seconds": strconv.FormatFloat(a.d.Seconds(), 'f', 1, 64)})
	}
	if r.ctx.Err() != nil {
		return errCallerGone
	}
	return nil
}

func safeName(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, s)
}

func (r *run) transfer(nd *Node) (string, error) {
	to := r.expand(nd.Target)
	detail := map[string]string{"kind": string(nd.TransferKind), "target": to}
	var target *Flow
	if r.in.Flows != nil {
		switch nd.TransferKind {
		case TransferFlow:
			target, _ = r.in.Flows.Flow(to)
		case TransferNumber:
			target, _ = r.in.Flows.FlowForNumber(to)
		}
	}
	if target != nil {
		detail["result"] = "flow " + target.Name
		r.traceAdd(nd, EvTransfer, "", detail)
		r.flow = target
		r.vars["flow"] = target.Name
		return target.Start, nil
	}
	var err error
	switch {
	case nd.TransferKind == TransferFlow:
		err = fmt.Errorf("flow %q is not loaded", to)
	case r.in.Transferer == nil:
		err = errors.New("no transferer configured")
	default:
		err = r.in.Transferer.Transfer(r.ctx, TransferRequest{
			CallID: r.call.ID, Kind: nd.TransferKind, Target: to, Trunk: nd.Trunk,
			CallerNumber: r.vars["caller"], Vars: maps.Clone(r.vars), Trace: r.snapshot(),
		})
	}
	if err == nil {
		detail["result"] = "ok"
		r.traceAdd(nd, EvTransfer, "", detail)
		r.res.Outcome = OutcomeTransferred
		return "", nil
	}
	if r.ctx.Err() != nil {
		return "", errCallerGone
	}
	detail["result"] = "failed"
	detail["error"] = err.Error()
	r.traceAdd(nd, EvTransfer, "", detail)
	if nd.Failure == "" {
		r.hangup(nd, "transfer failed")
	}
	return nd.Failure, nil
}
