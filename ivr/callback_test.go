package ivr

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCallbacks is a Queuer whose waiting calls can keep their place.
type fakeCallbacks struct {
	fakeQueuer
	refuse    error // KeepPlace / EnqueueCallback fail
	refuseCfm error // Confirm fails
	mu2       sync.Mutex
	kept      []string // numbers KeepPlace was given
	made      []*fakeCallback
}

type fakeCallback struct {
	mu        sync.Mutex
	confirmed string
	cancelled bool
	err       error
}

func (cb *fakeCallback) Confirm(number string) error {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if cb.err != nil {
		return cb.err
	}
	cb.confirmed = number
	return nil
}

func (cb *fakeCallback) Cancel() {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if cb.confirmed == "" {
		cb.cancelled = true
	}
}

type keepingQueued struct {
	*fakeQueued
	f *fakeCallbacks
}

func (q *fakeCallbacks) Enqueue(ctx context.Context, req QueueRequest) (QueuedCall, error) {
	qc, err := q.fakeQueuer.Enqueue(ctx, req)
	if err != nil {
		return nil, err
	}
	return keepingQueued{qc.(*fakeQueued), q}, nil
}

func (k keepingQueued) KeepPlace(number string) (Callback, error) {
	return k.f.newCallback(number)
}

func (q *fakeCallbacks) EnqueueCallback(ctx context.Context, req QueueRequest) (Callback, error) {
	q.mu.Lock()
	q.reqs = append(q.reqs, req)
	q.mu.Unlock()
	return q.newCallback("")
}

func (q *fakeCallbacks) newCallback(number string) (Callback, error) {
	q.mu2.Lock()
	defer q.mu2.Unlock()
	if q.refuse != nil {
		return nil, q.refuse
	}
	q.kept = append(q.kept, number)
	cb := &fakeCallback{err: q.refuseCfm}
	q.made = append(q.made, cb)
	return cb, nil
}

const callbackSrc = `
name: cb
start: q
nodes:
  q:
    type: queue
    queue: sales
    prompt: hold
    callback_after: 20ms
    callback_digit: "9"
    callback: cb
    leave_digit: "*"
    voicemail: bye
    next: menu
  cb:
    type: callback
    retries: 2
    timeout: 50ms
    inter_digit_timeout: 50ms
    failure: bye
  menu:
    type: menu
    prompt: menu
    options: {"1": q, "3": ask}
    default: bye
  ask:
    type: callback
    queue: sales
    timeout: 50ms
    inter_digit_timeout: 50ms
  bye: {type: hangup, reason: bye}
`

func TestCallbackFromQueue(t *testing.T) {
	cases := []struct {
		name      string
		caller    string
		script    map[string][]string
		refuse    error
		wantEnd   string
		outcome   Outcome
		kept      bool
		confirmed string
		cancelled bool
		path      []string
	}{
		{
			name: "caller confirms the caller id", caller: "13800000001",
			script:  map[string][]string{"callback-offer": {"9"}, "callback-confirm": {"1"}},
			wantEnd: "callback requested", outcome: OutcomeCallback, kept: true, confirmed: "13800000001",
			path: []string{"q:queued", "q:callback_offer", "q:callback=9", "cb", "cb:callback", "cb:hangup"},
		},
		{
			name: "caller keys another number", caller: "13800000001",
			script:  map[string][]string{"callback-offer": {"9"}, "callback-confirm": {"2", "1"}, "callback-enter": {"021555666#"}},
			wantEnd: "callback requested", outcome: OutcomeCallback, kept: true, confirmed: "021555666",
		},
		{
			name: "anonymous caller must key a number", caller: "anonymous",
			script:  map[string][]string{"callback-offer": {"9"}, "callback-enter": {"13900000002#"}, "callback-confirm": {"1"}},
			wantEnd: "callback requested", outcome: OutcomeCallback, kept: true, confirmed: "13900000002",
		},
		{
			name: "caller hangs up before confirming", caller: "13800000001",
			script:  map[string][]string{"callback-offer": {"9"}, "callback-confirm": {"H"}},
			outcome: OutcomeCallerHangup, kept: true, cancelled: true,
		},
		{
			name: "no confirmation: the request is withdrawn", caller: "13800000001",
			script:  map[string][]string{"callback-offer": {"9"}},
			wantEnd: "bye", outcome: OutcomeHangup, kept: true, cancelled: true,
			path: []string{"cb:no_input", "cb:no_input", "cb:retries_out", "cb:callback", "bye:hangup"},
		},
		{
			name: "the ACD refuses (an agent is ringing): the caller keeps waiting", caller: "13800000001",
			script: map[string][]string{"callback-offer": {"9*"}}, refuse: errors.New("agent ringing"),
			wantEnd: "bye", outcome: OutcomeHangup,
			path: []string{"q:callback=9", "q:left_queue=*"},
		},
		{
			name: "the digit does nothing before the offer", caller: "13800000001",
			script:  map[string][]string{"hold": {"9*"}},
			wantEnd: "bye", outcome: OutcomeHangup,
			path: []string{"q:queued", "q:left_queue=*"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, callbackSrc)
			q := &fakeCallbacks{refuse: tc.refuse}
			leg := newLeg(tc.caller, tc.script)
			res := runCall(t, &Interpreter{Queuer: q, Logger: quietLog}, f, leg)
			q.leg = leg
			if res.Outcome != tc.outcome || leg.hungUp != tc.wantEnd {
				t.Fatalf("outcome %q end %q, want %q %q; trace %v", res.Outcome, leg.hungUp, tc.outcome, tc.wantEnd, events(res.Trace))
			}
			if tc.path != nil && !isSubsequence(tc.path, events(res.Trace)) {
				t.Errorf("trace %v, want %v", events(res.Trace), tc.path)
			}
			if got := len(q.made) == 1; got != tc.kept {
				t.Fatalf("callbacks made %d, want kept=%v", len(q.made), tc.kept)
			}
			if !tc.kept {
				return
			}
			cb := q.made[0]
			if cb.confirmed != tc.confirmed || cb.cancelled != tc.cancelled {
				t.Fatalf("confirmed %q cancelled %v, want %q %v", cb.confirmed, cb.cancelled, tc.confirmed, tc.cancelled)
			}
			if tc.confirmed != "" {
				if res.Vars["callback_number"] != tc.confirmed {
					t.Errorf("callback_number = %q", res.Vars["callback_number"])
				}
				played := strings.Join(leg.playedNames(), " ")
				if !strings.Contains(played, "callback-kept") {
					t.Errorf("the caller did not hear that they keep their place: %s", played)
				}
				if tc.caller == "13800000001" && tc.confirmed == tc.caller && !strings.Contains(played, "callback-number num/1 num/3 num/8") {
					t.Errorf("the number was not read back: %s", played)
				}
			}
		})
	}
}

// A menu's "call me back" option queues a new request in the node's queue.
func TestCallbackFromMenu(t *testing.T) {
	f := mustParse(t, strings.Replace(callbackSrc, "start: q", "start: menu", 1))
	q := &fakeCallbacks{}
	leg := newLeg("13800000002", map[string][]string{"menu": {"3"}, "callback-confirm": {"1"}})
	res := runCall(t, &Interpreter{Queuer: q, Logger: quietLog}, f, leg)
	if res.Outcome != OutcomeCallback || len(q.made) != 1 || q.made[0].confirmed != "13800000002" {
		t.Fatalf("outcome %q made %d; trace %v", res.Outcome, len(q.made), events(res.Trace))
	}
	if len(q.reqs) != 1 || q.reqs[0].Queue != "sales" || q.reqs[0].CallerNumber != "13800000002" {
		t.Fatalf("requests %+v", q.reqs)
	}
	if res.Queue != "sales" {
		t.Errorf("result queue %q", res.Queue)
	}
}

// The offer also comes when the expected wait is over the limit.
func TestCallbackOfferedOnExpectedWait(t *testing.T) {
	src := strings.Replace(callbackSrc, "callback_after: 20ms", "callback_wait_over: 2m", 1)
	f := mustParse(t, src)
	q := &fakeCallbacks{}
	q.position = QueuePosition{Place: 4, EstimatedWait: 5 * time.Minute}
	leg := newLeg("13800000003", map[string][]string{"callback-offer": {"9"}, "callback-confirm": {"1"}})
	res := runCall(t, &Interpreter{Queuer: q, Logger: quietLog}, f, leg)
	e, ok := findEvent(res.Trace, EvCallbackOffer)
	if !ok || e.Detail["expected_wait"] != "5m0s" || res.Outcome != OutcomeCallback {
		t.Fatalf("offer %+v outcome %q; trace %v", e, res.Outcome, events(res.Trace))
	}
}

func TestCallbackParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"nodes:\n  q: {type: queue, queue: s, callback_digit: \"9\", callback: cb}\n  cb: {type: callback}\n", "neither callback_after nor callback_wait_over"},
		{"nodes:\n  q: {type: queue, queue: s, callback_after: 60s}\n", "callback_digit is not"},
		{"nodes:\n  q: {type: queue, queue: s, callback_after: 60s, callback_digit: \"9\"}\n", "needs \"callback\""},
		{"nodes:\n  q: {type: queue, queue: s, callback_after: 1s, callback_digit: \"*\", callback: cb, leave_digit: \"*\", voicemail: cb}\n  cb: {type: callback}\n", "both \"*\""},
		{"nodes:\n  q: {type: queue, queue: s, callback_after: 1s, callback_digit: \"9\", callback: h}\n  h: {type: hangup}\n", "want a callback node"},
		{"nodes:\n  m: {type: menu, prompt: p, options: {\"1\": cb}, default: cb}\n  cb: {type: callback}\n", "has no queue"},
		{"nodes:\n  cb: {type: callback, queue: s, min: 9, max: 4}\n", "max (4) is less than min (9)"},
	}
	for _, tc := range cases {
		_, err := ParseFlow("t.yaml", []byte(tc.src), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nerr = %v, want %q", tc.src, err, tc.want)
		}
	}
}
