package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/sip"
)

// A node restarted under its name finds the bindings it published (and
// only its own, only live ones) and restores them into a fresh registrar.
func TestOwnRegistrationsRestore(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := newTestRegistrations(t, srv, "a", "own:")
	b := newTestRegistrations(t, srv, "b", "own:")
	other := newTestRegistrations(t, srv, "a", "othercentre:")
	live := time.Now().Add(time.Hour).Round(time.Millisecond)
	if err := a.Publish(ctx, "1001", []sip.Binding{binding(7001, live)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "1001", []sip.Binding{binding(7002, live)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "1002", []sip.Binding{binding(7003, live)}); err != nil {
		t.Fatal(err)
	}
	if err := other.Publish(ctx, "1003", []sip.Binding{binding(7004, live)}); err != nil {
		t.Fatal(err)
	}
	// The same node name, a new process.
	again := newTestRegistrations(t, srv, "a", "own:")
	own, err := again.Own(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 1 || len(own["1001"]) != 1 || own["1001"][0].Contact.Port != 7001 {
		t.Fatalf("node a's own bindings: %+v", own)
	}
	reg := sip.NewRegistrar()
	if n := reg.Restore(own); n != 1 || !reg.Registered("1001") || reg.Registered("1002") {
		t.Fatalf("restored %d; 1001 %v, 1002 %v", n, reg.Registered("1001"), reg.Registered("1002"))
	}
	srv.Stop()
	if _, err := again.Own(ctx); err == nil {
		t.Fatal("Own with Redis stopped did not fail")
	}
}
