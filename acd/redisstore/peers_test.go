package redisstore

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// serveDirect gives a linked node the HTTP side of direct requests.
func serveDirect(t *testing.T, n *linkedNode) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(DirectPath, n.link.DirectHandler(nil))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	n.link.Advertise(strings.TrimPrefix(ts.URL, "http://"))
	return ts
}

// Redis stops while B's agents talk on A's callers. When a call ends on A,
// B hears it directly from A (no Redis) and frees its agent at once — not
// at the end of the outage — while the agent whose call goes on stays
// talking. Requests without the nodes' shared key are refused. A node that
// dies is reaped within its lease (plus the reaper's third).
func TestLinkDirectFreesAgentsDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	rings := &ringLog{rung: map[string]string{}}
	a := startLinked(t, srv, "A", "dx:", recordingPhone{"A", &rings.mu, rings.rung, &rings.dups})
	b := startLinked(t, srv, "B", "dx:", recordingPhone{"B", &rings.mu, rings.rung, &rings.dups})
	tsA := serveDirect(t, a)
	serveDirect(t, b)
	must(t, b.acd.Login(acd.AgentProfile{ID: "2001", Skills: map[string]int{"general": 1}}))
	must(t, b.acd.Login(acd.AgentProfile{ID: "2002", Skills: map[string]int{"general": 1}}))
	until(t, "A to see B's agents", func() bool { return stateOf(a.acd, "2001") == acd.Ready && stateOf(a.acd, "2002") == acd.Ready })
	// Both learn each other's direct address and the key.
	until(t, "direct addresses shared", func() bool {
		a.link.peers.mu.Lock()
		b.link.peers.mu.Lock()
		ok := a.link.peers.addrs["B"] != "" && b.link.peers.addrs["A"] != "" && b.link.peers.key != nil
		b.link.peers.mu.Unlock()
		a.link.peers.mu.Unlock()
		return ok
	})
	for _, id := range []string{"y1", "y2"} {
		if out := connect(t, a.acd, id); out.Kind != acd.Connected {
			t.Fatalf("%s: %+v", id, out)
		}
	}
	until(t, "B's agents talking on A's calls", func() bool {
		return stateOf(b.acd, "2001") == acd.Talking && stateOf(b.acd, "2002") == acd.Talking
	})
	// A stranger (no key) is refused.
	resp, err := http.Post(tsA.URL+DirectPath+"calls-up", "application/json", strings.NewReader(`[]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned direct request: %s", resp.Status)
	}

	srv.Stop()
	until(t, "both degraded", func() bool { return a.acd.Degraded() && b.acd.Degraded() })
	s1, _ := b.acd.Agent("2001")
	ended := s1.CallID
	must(t, a.acd.CallEnded(ended, "caller"))
	start := time.Now()
	until(t, "B to free the agent whose call ended", func() bool {
		s, _ := b.acd.Agent("2001")
		return s.State != acd.Talking && s.CallID == ""
	})
	t.Logf("agent freed %v after its call ended, Redis down", time.Since(start).Round(10*time.Millisecond))
	time.Sleep(2 * directEvery) // a few more polls: the live call keeps its agent
	if st := stateOf(b.acd, "2002"); st != acd.Talking {
		t.Fatalf("agent on a call still up is %s", st)
	}
	// B's agent takes B's own callers again (degraded: local routing).
	if out := connect(t, b.acd, "local"); out.Kind != acd.Connected || out.AgentID != "2001" {
		t.Fatalf("B's caller during the outage: %+v", out)
	}

	srv.Restart(t)
	until(t, "rejoined", func() bool { return !a.acd.Degraded() && !b.acd.Degraded() })
	must(t, a.acd.Login(acd.AgentProfile{ID: "1001", Skills: map[string]int{"general": 1}}))
	until(t, "B to see A's agent", func() bool { return stateOf(b.acd, "1001") != "" })
	a.stop()
	died := time.Now()
	until(t, "B to reap A", func() bool {
		_, err := b.acd.Agent("1001")
		return errors.Is(err, acd.ErrUnknownAgent)
	})
	t.Logf("dead node reaped %v after it stopped (lease %v)", time.Since(died).Round(10*time.Millisecond), 600*time.Millisecond)
}
