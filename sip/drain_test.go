package sip

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/sip/uatest"
)

// Draining refuses new calls with 503 and a Retry-After, answers OPTIONS
// probes with 503 (a proxy takes the node out of rotation), and lets the
// call in progress and registrations go on; undraining serves again. The
// response counter saw every 503 at the socket.
func TestDrainRefusesNewCallsOnly(t *testing.T) {
	h := &answerHandler{holds: make(chan bool, 4), digits: make(chan rune, 4)}
	env := newTestEnv(t, nil, h)
	h.srv = env.srv
	before := env.srv.ResponsesSent()[503]

	ua := uatest.New(t, env.addr)
	up, err := ua.Call("10010", uatest.CallOptions{From: "13800000001"})
	if err != nil {
		t.Fatal(err)
	}

	env.srv.SetDraining(90 * time.Second)
	if !env.srv.Draining() {
		t.Fatal("Draining() false after SetDraining")
	}
	res := options(t, env.addr, 1)
	if !strings.HasPrefix(res, "SIP/2.0 503") || !strings.Contains(res, "Retry-After: 90") {
		t.Fatalf("OPTIONS while draining:\n%s", res)
	}
	d := ua.Invite("10010", uatest.CallOptions{From: "13800000002"})
	select {
	case <-d.Failed():
	case <-d.Established():
		t.Fatal("a new call was answered while draining")
	case <-time.After(5 * time.Second):
		t.Fatal("no final response to the INVITE while draining")
	}
	r := d.Response()
	if r == nil || r.StatusCode != 503 {
		t.Fatalf("INVITE while draining: %v (%v)", r, d.Err())
	}
	if ra := r.GetHeader("Retry-After"); ra == nil || ra.Value() != "90" {
		t.Fatalf("503 without Retry-After 90: %v", r)
	}
	// The call in progress goes on: in-dialog requests are served.
	if code, err := up.Hold(true); err != nil || code != 200 {
		t.Fatalf("re-INVITE on the call in progress while draining: %d %v", code, err)
	}
	// Phones keep their registrations.
	phone := uatest.New(t, env.addr)
	if err := phone.Register("1001", "pass1001", 300); err != nil {
		t.Fatalf("REGISTER while draining: %v", err)
	}
	if code, err := up.Bye(); err != nil || code != 200 {
		t.Fatalf("BYE on the call in progress: %d %v", code, err)
	}
	if got := env.srv.ResponsesSent()[503] - before; got < 2 {
		t.Fatalf("503s counted: %d, want the INVITE's and the OPTIONS'", got)
	}

	env.srv.SetDraining(0)
	if res := options(t, env.addr, 2); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("OPTIONS after undraining:\n%s", res)
	}
	if d, err := ua.Call("10010", uatest.CallOptions{From: "13800000003"}); err != nil {
		t.Fatalf("call after undraining: %v", err)
	} else {
		_, _ = d.Bye()
	}
}

// Bindings written by one registrar are restored by another (the next
// process); expired ones are not, a contact registered since is kept, and
// the write is atomic (no temporary file left behind).
func TestBindingsSurviveARestart(t *testing.T) {
	h := &answerHandler{holds: make(chan bool, 4), digits: make(chan rune, 4)}
	env := newTestEnv(t, nil, h)
	phone := uatest.New(t, env.addr)
	if err := phone.Register("1001", "pass1001", 300); err != nil {
		t.Fatal(err)
	}
	reg := env.srv.Registrar()
	if users, contacts := reg.Count(); users != 1 || contacts != 1 {
		t.Fatalf("count after REGISTER: %d users %d contacts", users, contacts)
	}
	snap := reg.Snapshot()
	// An expired binding of another user rides along and must not come back.
	var old sipmsg.Uri
	if err := sipmsg.ParseUri("sip:1002@127.0.0.1:5999", &old); err != nil {
		t.Fatal(err)
	}
	snap["1002"] = []Binding{{Contact: old, Expires: time.Now().Add(-time.Minute)}}

	dir := t.TempDir()
	path := filepath.Join(dir, "registrations.json")
	if err := SaveBindings(path, snap); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory after an atomic save: %v", entries)
	}
	loaded, err := LoadBindings(path)
	if err != nil {
		t.Fatal(err)
	}
	next := NewRegistrar()
	v := next.Version()
	if n := next.Restore(loaded); n != 1 {
		t.Fatalf("restored %d bindings, want the one live binding", n)
	}
	if next.Version() == v {
		t.Fatal("a restore did not change the registrar's version")
	}
	if !next.Registered("1001") || next.Registered("1002") {
		t.Fatalf("after restore: 1001 %v (want true), 1002 %v (want false)", next.Registered("1001"), next.Registered("1002"))
	}
	got := next.Contacts("1001")[0]
	if got.Contact.String() != snap["1001"][0].Contact.String() || !got.Expires.Equal(snap["1001"][0].Expires) {
		t.Fatalf("restored %+v, saved %+v", got, snap["1001"][0])
	}
	// Restoring again adds nothing: the contact is there.
	if n := next.Restore(loaded); n != 0 {
		t.Fatalf("second restore added %d", n)
	}
	// No file yet is no bindings, not an error; a corrupt one is an error.
	if b, err := LoadBindings(filepath.Join(dir, "none.json")); err != nil || b != nil {
		t.Fatalf("missing file: %v %v", b, err)
	}
	if err := os.WriteFile(path, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBindings(path); err == nil {
		t.Fatal("a corrupt file loaded")
	}

	// PersistBindings writes what changed, and once more on the way out.
	out := filepath.Join(dir, "live.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); PersistBindings(ctx, reg, out, 20*time.Millisecond, nil) }()
	if err := phone.Register("1001", "pass1001", 0); err != nil { // unregister
		t.Fatal(err)
	}
	cancel()
	<-done
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("nothing saved: %v", err)
	}
	saved, err := LoadBindings(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 0 {
		t.Fatalf("after the unregister the file holds %v", saved)
	}
}

// Trunks change at run time: a source no longer a trunk must authenticate
// (401), and is admitted again once it is back in the list.
func TestSetTrunks(t *testing.T) {
	h := &answerHandler{holds: make(chan bool, 4), digits: make(chan rune, 4)}
	env := newTestEnv(t, nil, h)
	h.srv = env.srv
	ua := uatest.New(t, env.addr)
	env.srv.SetTrunks([]Trunk{{Name: "elsewhere", Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}})
	d := ua.Invite("10010", uatest.CallOptions{From: "13800000001"})
	select {
	case <-d.Failed():
		if r := d.Response(); r == nil || r.StatusCode != 401 {
			t.Fatalf("INVITE from a source that is no longer a trunk: %v", r)
		}
	case <-d.Established():
		t.Fatal("a source removed from the trunks was admitted")
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	env.srv.SetTrunks([]Trunk{{Name: "carrier", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	up, err := ua.Call("10010", uatest.CallOptions{From: "13800000001"})
	if err != nil {
		t.Fatalf("call from the trunk again: %v", err)
	}
	_, _ = up.Bye()
}
