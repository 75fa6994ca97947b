package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// A call that overflows to another queue leaves the first queue's list, and
// what the ACD stored about the caller survives the trip through Redis.
func TestCallMovesBetweenQueues(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv, "n1", "")
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 123456789, time.UTC)
	c := acd.Call{ID: "c1", Caller: "+4930123", Queue: "general", Tier: "gold", Priority: 2,
		Customer: map[string]string{"name": "Ada"}, EnqueuedAt: t0}
	if err := s.SaveCall(ctx, acd.CallRecord{Call: c, State: "queued"}); err != nil {
		t.Fatal(err)
	}
	c.Queue = "overflow"
	if err := s.SaveCall(ctx, acd.CallRecord{Call: c, State: "ringing", AgentID: "a1"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		queue string
		want  int
	}{{"general", 0}, {"overflow", 1}, {"", 1}} {
		got, err := s.Calls(ctx, tc.queue)
		if err != nil || len(got) != tc.want {
			t.Fatalf("Calls(%q) = %+v, %v; want %d calls", tc.queue, got, err, tc.want)
		}
	}
	got, _ := s.Calls(ctx, "overflow")
	r := got[0]
	if r.State != "ringing" || r.AgentID != "a1" || r.Call.Customer["name"] != "Ada" || !r.Call.EnqueuedAt.Equal(t0) || r.Call.Priority != 2 {
		t.Fatalf("record did not round-trip: %+v", r)
	}
	if err := s.DeleteCall(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Calls(ctx, "overflow"); len(got) != 0 {
		t.Fatalf("deleted call still queued: %+v", got)
	}
}

func TestBadInputIsRefused(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv, "n1", "")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"claim without call", s.Claim(ctx, "", "a1")},
		{"claim without agent", s.Claim(ctx, "c1", "")},
		{"call without ID", s.SaveCall(ctx, acd.CallRecord{})},
		{"SL queue with separator", s.AddSL(ctx, acd.SLDelta{Queue: "a\x1fb"})},
	} {
		if tc.err == nil || errors.Is(tc.err, acd.ErrClaimed) {
			t.Errorf("%s: error %v, want a refusal", tc.name, tc.err)
		}
	}
}

// A trace that JSON cannot carry is dropped, not the call with it.
func TestUnencodableTraceIsDropped(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv, "n1", "")
	ctx := context.Background()
	if err := s.SaveCall(ctx, acd.CallRecord{Call: acd.Call{ID: "c1", Queue: "q", Trace: make(chan int)}, State: "queued"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Calls(ctx, "q")
	if err != nil || len(got) != 1 || got[0].Call.Trace != nil {
		t.Fatalf("calls %+v, %v; want c1 without trace", got, err)
	}
}
