package sip

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/sip/sipptest"
)

// memDirectory is what a shared store does, in memory: each node's
// publishes replace that node's bindings of a user.
type memDirectory struct {
	mu    sync.Mutex
	nodes map[string]map[string][]Binding // node -> user -> bindings
}

func (d *memDirectory) view(node string) *nodeDirectory { return &nodeDirectory{d: d, node: node} }

// nodeDirectory is one node's handle on a memDirectory.
type nodeDirectory struct {
	d         *memDirectory
	node      string
	failWith  error
	publishes int
	delay     func(call int) time.Duration // before a publish is stored
}

func (n *nodeDirectory) Publish(_ context.Context, user string, bindings []Binding) error {
	n.d.mu.Lock()
	n.publishes++
	call := n.publishes
	n.d.mu.Unlock()
	if n.delay != nil {
		time.Sleep(n.delay(call))
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if n.failWith != nil {
		return n.failWith
	}
	if n.d.nodes == nil {
		n.d.nodes = map[string]map[string][]Binding{}
	}
	if n.d.nodes[n.node] == nil {
		n.d.nodes[n.node] = map[string][]Binding{}
	}
	n.d.nodes[n.node][user] = append([]Binding(nil), bindings...)
	return nil
}

func (n *nodeDirectory) Lookup(_ context.Context, user string) ([]Binding, error) {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if n.failWith != nil {
		return nil, n.failWith
	}
	var out []Binding
	for _, users := range n.d.nodes {
		out = append(out, users[user]...)
	}
	return out, nil
}

func (n *nodeDirectory) published() int {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	return n.publishes
}

func withNode(node string, dir Directory) func(*Config) {
	return func(c *Config) {
		c.Node = node
		if dir != nil {
			c.Directory = dir
		}
	}
}

// dialUser dials from the test goroutine, which unlike a Handler was not
// started by the server: loading the OPTIONS counter that newTestEnv's probe
// raised orders Run's setup before Dial for the race detector.
func dialUser(t *testing.T, srv *Server, user string) (*Leg, error) {
	t.Helper()
	if srv.Stats.OptionsIn.Load() == 0 {
		t.Fatal("server never answered OPTIONS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Dial(ctx, DialRequest{User: user, CallerID: "13800000001"})
}

// A phone registered through node B is rung by node A through the shared
// directory, and stops being reachable from A once it unregisters through B.
func TestDialPhoneRegisteredThroughAnotherNode(t *testing.T) {
	shared := &memDirectory{}
	dirA, dirB := shared.view("a"), shared.view("b")
	nodeA := newTestEnv(t, withNode("a", dirA), &bridgeHandler{})
	nodeB := newTestEnv(t, withNode("b", dirB), &bridgeHandler{})
	solo := newTestEnv(t, nil, &bridgeHandler{})

	agentPort := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}),
		LocalPort: agentPort, Timeout: 30 * time.Second,
	})
	registerAgent(t, nodeB, "1001", "pass1001", agentPort, 300)

	// Logging in stays with the node the phone registered through.
	if !nodeB.srv.Registrar().Registered("1001") || nodeA.srv.Registrar().Registered("1001") {
		t.Fatal("Registered must report local registrations only (want B yes, A no)")
	}
	if cs := nodeB.srv.Registrar().Contacts("1001"); len(cs) != 1 || cs[0].Node != "b" || cs[0].Contact.Port != agentPort {
		t.Fatalf("B's binding: %+v", cs)
	}
	if dirB.published() == 0 {
		t.Fatal("B accepted a REGISTER without publishing it")
	}
	if _, err := dialUser(t, solo.srv, "1001"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("a node without the directory dialled a phone registered elsewhere: %v", err)
	}

	leg, err := dialUser(t, nodeA.srv, "1001")
	if err != nil {
		t.Fatalf("A dialling the phone registered through B: %v\n%s", err, agent.Output())
	}
	if !leg.Answered() || leg.User != "1001" {
		t.Fatalf("leg answered=%v user=%q", leg.Answered(), leg.User)
	}
	leg.Close() // BYE from A: the phone's scenario ends only on it
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent sipp exit %d (%v)\n%s", code, err, agent.Output())
	}

	registerAgent(t, nodeB, "1001", "pass1001", agentPort, 0)
	if nodeB.srv.Registrar().Registered("1001") {
		t.Fatal("still registered on B after Expires: 0")
	}
	if _, err := dialUser(t, nodeA.srv, "1001"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("A dialled a phone unregistered through B: %v", err)
	}
}

// A failing directory costs sharing, never the local registration; a failed
// lookup reads as not registered and says why.
func TestDirectoryFailures(t *testing.T) {
	down := errors.New("store unreachable")
	dir := (&memDirectory{}).view("a")
	dir.failWith = down
	env := newTestEnv(t, withNode("a", dir), &bridgeHandler{})

	registerAgent(t, env, "1001", "pass1001", sipptest.FreeUDPPort(t), 300)
	if !env.srv.Registrar().Registered("1001") || dir.published() == 0 {
		t.Fatalf("REGISTER with the directory down: registered=%v publishes=%d",
			env.srv.Registrar().Registered("1001"), dir.published())
	}
	_, err := dialUser(t, env.srv, "1002")
	if !errors.Is(err, ErrNotRegistered) || !errors.Is(err, down) {
		t.Fatalf("dial with the directory down: %v (want ErrNotRegistered wrapping the cause)", err)
	}
}

func TestLiveBindings(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := func(port int, in time.Duration, node string) Binding {
		return Binding{Contact: sipmsg.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: port}, Expires: now.Add(in), Node: node}
	}
	tests := []struct {
		name      string
		in        []Binding
		wantPorts []int
		wantNodes []string
	}{
		{"none", nil, nil, nil},
		{"expired dropped", []Binding{b(7001, -time.Second, "a"), b(7002, 0, "a"), b(7003, time.Minute, "b")}, []int{7003}, []string{"b"}},
		{"newest first", []Binding{b(7001, time.Minute, "a"), b(7002, time.Hour, "b")}, []int{7002, 7001}, []string{"b", "a"}},
		{"one contact on two nodes rings once", []Binding{b(7001, time.Minute, "a"), b(7001, time.Hour, "c")}, []int{7001}, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := liveBindings(tc.in, now)
			if len(got) != len(tc.wantPorts) {
				t.Fatalf("got %d bindings %+v, want ports %v", len(got), got, tc.wantPorts)
			}
			for i := range got {
				if got[i].Contact.Port != tc.wantPorts[i] || got[i].Node != tc.wantNodes[i] {
					t.Fatalf("binding %d: %s on %q, want port %d on %q", i, got[i].Contact.String(), got[i].Node, tc.wantPorts[i], tc.wantNodes[i])
				}
			}
		})
	}
}

func TestBindingJSON(t *testing.T) {
	exp := time.Date(2026, 11, 22, 3, 0, 0, 123456789, time.UTC)
	var contact sipmsg.Uri
	if err := sipmsg.ParseUri("sip:1001@10.0.0.7:5062;transport=tcp", &contact); err != nil {
		t.Fatal(err)
	}
	in := Binding{Contact: contact, Expires: exp, Node: "b", Source: "10.0.0.7:40000", Transport: "TCP", CallID: "abc@x", CSeq: 7}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["contact"] != "sip:1001@10.0.0.7:5062;transport=tcp" {
		t.Fatalf("contact stored as %v in %s", raw["contact"], data)
	}
	var out Binding
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if out.Contact.String() != in.Contact.String() || !out.Expires.Equal(exp) || out.Node != "b" ||
		out.Source != in.Source || out.Transport != "TCP" || out.CallID != "abc@x" || out.CSeq != 7 {
		t.Fatalf("round trip: %+v from %s", out, data)
	}
	if tr, _ := out.Contact.UriParams.Get("transport"); tr != "tcp" {
		t.Fatalf("transport parameter lost: %s", out.Contact.String())
	}

	for _, bad := range []string{
		`not json`,
		`{"contact":"","expires":"2026-11-22T03:00:00Z"}`,
		`{"contact":"*","expires":"2026-11-22T03:00:00Z"}`,
		`{"contact":"tel:+15551234","expires":"2026-11-22T03:00:00Z"}`,
		`{"contact":"sip:1001@10.0.0.7"}`,
		`{"contact":"sip:1001@10.0.0.7","expires":"yesterday"}`,
		`{"contact":42,"expires":"2026-11-22T03:00:00Z"}`,
	} {
		var b Binding
		if err := json.Unmarshal([]byte(bad), &b); err == nil {
			t.Errorf("accepted %s as %+v", bad, b)
		}
	}
}

// Racing REGISTERs of one user must leave the directory with the final
// state, not whichever publish happened to finish last.
func TestRacingRegistersPublishFinalState(t *testing.T) {
	dir := (&memDirectory{}).view("a")
	// Publishes that take varying time finish out of order unless serialised.
	dir.delay = func(i int) time.Duration { return time.Duration(i%3) * time.Millisecond }
	srv := &Server{cfg: Config{Directory: dir}, reg: NewRegistrar(), log: slog.New(slog.DiscardHandler)}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1"})
			req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: 7000 + i}})
			expires := "300"
			if i%4 == 3 { // some phones leave again
				expires = "0"
			}
			req.AppendHeader(sipmsg.NewHeader("Expires", expires))
			srv.reg.update("1001", req, "127.0.0.1:"+strconv.Itoa(7000+i))
			srv.publish("1001")
		}()
	}
	wg.Wait()
	got, err := dir.Lookup(context.Background(), "1001")
	if err != nil {
		t.Fatal(err)
	}
	want := srv.reg.Contacts("1001")
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("directory holds %d bindings, registrar %d", len(got), len(want))
	}
	for i := range want {
		if contactKey(got[i].Contact) != contactKey(want[i].Contact) {
			t.Fatalf("binding %d: directory %s, registrar %s", i, got[i].Contact.String(), want[i].Contact.String())
		}
	}
}
