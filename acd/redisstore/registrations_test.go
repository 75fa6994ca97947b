package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

func newTestRegistrations(t *testing.T, srv *redistest.Server, node, prefix string) *Registrations {
	t.Helper()
	r, err := NewRegistrations(Options{Addr: srv.Socket, Prefix: prefix, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func binding(port int, expires time.Time) sip.Binding {
	return sip.Binding{
		Contact: sipmsg.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: port},
		Expires: expires, Source: fmt.Sprintf("127.0.0.1:%d", port), Transport: "UDP", CallID: "reg-1", CSeq: 2,
	}
}

// ports lists the contacts' ports by node, in the order Lookup gave them.
func ports(bs []sip.Binding) map[string][]int {
	out := map[string][]int{}
	for _, b := range bs {
		out[b.Node] = append(out[b.Node], b.Contact.Port)
	}
	return out
}

func lookup(t *testing.T, r *Registrations, user string) []sip.Binding {
	t.Helper()
	bs, err := r.Lookup(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func TestRegistrations(t *testing.T) {
	srv := redistest.Start(t)
	raw := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { raw.Close() })
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		a := newTestRegistrations(t, srv, "a", "rt:")
		exp := time.Now().Add(time.Hour).Round(time.Millisecond)
		in := binding(7001, exp)
		if err := a.Publish(ctx, "1001", []sip.Binding{in, binding(7002, time.Now().Add(-time.Second))}); err != nil {
			t.Fatal(err)
		}
		got := lookup(t, a, "1001")
		if len(got) != 1 {
			t.Fatalf("lookup after publishing one live and one expired binding: %+v", got)
		}
		b := got[0]
		if b.Contact.String() != in.Contact.String() || !b.Expires.Equal(exp) || b.Node != "a" ||
			b.Source != in.Source || b.Transport != "UDP" || b.CallID != "reg-1" || b.CSeq != 2 {
			t.Fatalf("round trip: %+v, published %+v", b, in)
		}
		// The key is the documented one and lives exactly as long as its latest binding.
		at, err := raw.Do(ctx, "PEXPIRETIME", "rt:reg:1001").Int64()
		if err != nil || at != exp.UnixMilli()+1 {
			t.Fatalf("rt:reg:1001 expires at %d (%v), want %d", at, err, exp.UnixMilli()+1)
		}
		if got := lookup(t, a, "1002"); len(got) != 0 {
			t.Fatalf("unknown user: %+v", got)
		}
	})

	t.Run("expired bindings are not returned", func(t *testing.T) {
		a := newTestRegistrations(t, srv, "a", "exp:")
		if err := a.Publish(ctx, "1001", []sip.Binding{binding(7001, time.Now().Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		// Another node's binding that has expired since it was written, as
		// the key outlives all but its latest binding.
		stale := `{"contact":"sip:1001@127.0.0.1:7009","expires":"2020-01-01T00:00:00Z","node":"b"}`
		v, err := raw.Get(ctx, "exp:reg:1001").Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := raw.Set(ctx, "exp:reg:1001", "["+stale+","+strings.TrimPrefix(v, "["), redis.KeepTTL).Err(); err != nil {
			t.Fatal(err)
		}
		if got := ports(lookup(t, a, "1001")); len(got) != 1 || len(got["a"]) != 1 || got["a"][0] != 7001 {
			t.Fatalf("lookup with an expired binding stored: %v", got)
		}
		// The next write drops it for good.
		if err := a.Publish(ctx, "1001", []sip.Binding{binding(7001, time.Now().Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if v, _ := raw.Get(ctx, "exp:reg:1001").Result(); strings.Contains(v, "7009") {
			t.Fatalf("expired binding still stored after a publish: %s", v)
		}
	})

	t.Run("unregister deletes", func(t *testing.T) {
		a := newTestRegistrations(t, srv, "a", "del:")
		if err := a.Publish(ctx, "1001", []sip.Binding{binding(7001, time.Now().Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish(ctx, "1001", nil); err != nil {
			t.Fatal(err)
		}
		if n, err := raw.Exists(ctx, "del:reg:1001").Result(); err != nil || n != 0 {
			t.Fatalf("key left after the last binding went: exists=%d err=%v", n, err)
		}
		if got := lookup(t, a, "1001"); len(got) != 0 {
			t.Fatalf("lookup after unregister: %+v", got)
		}
	})

	t.Run("nodes on one prefix share, other prefixes do not", func(t *testing.T) {
		a := newTestRegistrations(t, srv, "a", "share:")
		b := newTestRegistrations(t, srv, "b", "share:")
		other := newTestRegistrations(t, srv, "a", "other:")
		exp := time.Now().Add(time.Hour)
		if err := a.Publish(ctx, "1001", []sip.Binding{binding(7001, exp)}); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(ctx, "1001", []sip.Binding{binding(7002, exp), binding(7003, exp)}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*Registrations{a, b} {
			got := ports(lookup(t, r, "1001"))
			if len(got["a"]) != 1 || got["a"][0] != 7001 || len(got["b"]) != 2 {
				t.Fatalf("node %s sees %v, want a:[7001] b:[7002 7003]", r.Node(), got)
			}
		}
		if got := lookup(t, other, "1001"); len(got) != 0 {
			t.Fatalf("another prefix sees %v", ports(got))
		}
		// b's phones re-register: one stays, one leaves; a's is untouched.
		if err := b.Publish(ctx, "1001", []sip.Binding{binding(7003, exp)}); err != nil {
			t.Fatal(err)
		}
		if got := ports(lookup(t, a, "1001")); len(got["a"]) != 1 || len(got["b"]) != 1 || got["b"][0] != 7003 {
			t.Fatalf("after b replaced its bindings: %v", got)
		}
		if err := a.Publish(ctx, "1001", nil); err != nil {
			t.Fatal(err)
		}
		if got := ports(lookup(t, b, "1001")); len(got["a"]) != 0 || len(got["b"]) != 1 {
			t.Fatalf("after a unregistered: %v", got)
		}
	})

	t.Run("racing nodes lose nothing", func(t *testing.T) {
		nodes := []*Registrations{
			newTestRegistrations(t, srv, "a", "race:"), newTestRegistrations(t, srv, "b", "race:"),
			newTestRegistrations(t, srv, "c", "race:"),
		}
		exp := time.Now().Add(time.Hour)
		var wg sync.WaitGroup
		errs := make(chan error, 3*10)
		for i, r := range nodes {
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- r.Publish(ctx, "1001", []sip.Binding{binding(7001+i, exp)})
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := ports(lookup(t, nodes[0], "1001"))
		for i, n := range []string{"a", "b", "c"} {
			if len(got[n]) != 1 || got[n][0] != 7001+i {
				t.Fatalf("after racing publishes: %v", got)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		a := newTestRegistrations(t, srv, "a", "bad:")
		wrong := binding(7001, time.Now().Add(time.Hour))
		wrong.Node = "b"
		if err := a.Publish(ctx, "1001", []sip.Binding{wrong}); err == nil {
			t.Fatal("published another node's binding")
		}
		if err := raw.Set(ctx, "bad:reg:1001", "{not json", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Lookup(ctx, "1001"); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Fatalf("lookup of a corrupt value: %v", err)
		}
		// A publish replaces what nobody can read.
		if err := a.Publish(ctx, "1001", []sip.Binding{binding(7001, time.Now().Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if got := ports(lookup(t, a, "1001")); len(got["a"]) != 1 {
			t.Fatalf("after publishing over a corrupt value: %v", got)
		}
	})
}

// With Redis gone or frozen, Publish and Lookup come back with a wrapped
// error bounded by Options.Timeout, so a REGISTER or a ringing agent is not
// held.
func TestRegistrationsRedisUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name       string
		breakRedis func(t *testing.T, srv *redistest.Server)
	}{
		{"stopped", func(t *testing.T, srv *redistest.Server) { srv.Stop() }},
		{"frozen", func(t *testing.T, srv *redistest.Server) {
			if err := srv.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			// Cleanups run last-in first-out: thaw before the server is stopped.
			t.Cleanup(func() { _ = srv.Signal(syscall.SIGCONT) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			r, err := NewRegistrations(Options{Addr: srv.Socket, Prefix: "down:", Node: "a", Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ctx := context.Background()
			if err := r.Publish(ctx, "1001", []sip.Binding{binding(7001, time.Now().Add(time.Hour))}); err != nil {
				t.Fatal(err) // and the pool now holds a live connection
			}
			tc.breakRedis(t, srv)
			for name, call := range map[string]func() error{
				"Publish": func() error { return r.Publish(ctx, "1001", nil) },
				"Lookup":  func() error { _, err := r.Lookup(ctx, "1001"); return err },
			} {
				done := make(chan error, 1)
				go func() { done <- call() }()
				select {
				case err := <-done:
					if err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") || !strings.Contains(err.Error(), "1001") {
						t.Fatalf("%s with Redis %s: %v (want a wrapped error)", name, tc.name, err)
					}
				case <-time.After(30 * time.Second): // hang guard, not a latency bound
					t.Fatalf("%s hung with Redis %s", name, tc.name)
				}
			}
		})
	}
}

func TestNewRegistrationsRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{}, {Addr: "/tmp/x.sock", Timeout: -time.Second}} {
		if r, err := NewRegistrations(o); err == nil {
			r.Close()
			t.Errorf("accepted %+v", o)
		}
	}
}

type refuseAll struct{}

func (refuseAll) Admit(sip.CallInfo) int          { return 404 }
func (refuseAll) Serve(context.Context, *sip.Leg) {}

// startNode runs a sip.Server wired to Redis the way an engine node is:
// one node name for the server and its directory.
func startNode(t *testing.T, srv *redistest.Server, node string) *sip.Server {
	t.Helper()
	dir := newTestRegistrations(t, srv, node, "e2e:")
	base := 21000 + 2*(os.Getpid()%250)
	ports, err := media.NewPortAllocator(base, base+400)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sip.NewServer(sip.Config{
		UDPAddr: "127.0.0.1:0", MediaIP: netip.MustParseAddr("127.0.0.1"), Ports: ports,
		Credentials: func(user string) (sip.Credential, bool) {
			return sip.Credential{User: user, HA1: sip.HA1(user, "hotline", "pass"+user)}, user == "1001"
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Node:   node, Directory: dir,
	}, refuseAll{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node %s: %v", node, err)
		}
	})
	waitServing(t, s)
	return s
}

// waitServing returns once s answers OPTIONS. Loading the OPTIONS counter
// also orders Run's setup before the test's Dial for the race detector.
func waitServing(t *testing.T, s *sip.Server) {
	t.Helper()
	c, err := net.Dial("udp", s.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for i := 0; i < 100 && s.Stats.OptionsIn.Load() == 0; i++ {
		msg := fmt.Sprintf("OPTIONS sip:hotline@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-w%[3]d\r\n"+
			"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: wait-%[3]d\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", s.UDPAddr(), c.LocalAddr(), i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Read(buf)
	}
	if s.Stats.OptionsIn.Load() == 0 {
		t.Fatal("sip server never answered OPTIONS")
	}
}

// End to end as deployed: a phone registers through node b, node a rings it
// through Redis, and after it unregisters through b node a cannot.
func TestRegistrationsRingAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startNode(t, srv, "a"), startNode(t, srv, "b")

	agentPort := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}),
		LocalPort: agentPort, Timeout: 30 * time.Second,
	})
	sipptest.RegisterPhone(t, b.UDPAddr(), "1001", "pass1001", agentPort, 300)
	if a.Registrar().Registered("1001") || !b.Registrar().Registered("1001") {
		t.Fatal("Registered must report local registrations only (want b yes, a no)")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leg, err := a.Dial(ctx, sip.DialRequest{User: "1001", CallerID: "13800000001"})
	if err != nil {
		t.Fatalf("node a dialling the phone registered through b: %v\n%s", err, agent.Output())
	}
	leg.Close()
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent sipp exit %d (%v)\n%s", code, err, agent.Output())
	}

	sipptest.RegisterPhone(t, b.UDPAddr(), "1001", "pass1001", agentPort, 0)
	if _, err := a.Dial(ctx, sip.DialRequest{User: "1001"}); !errors.Is(err, sip.ErrNotRegistered) {
		t.Fatalf("node a dialled a phone unregistered through b: %v", err)
	}
}
