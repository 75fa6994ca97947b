package agentapi

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// BenchmarkQueueStatsPush is one statistics tick on a 10,000-agent floor
// with 1,000 waiting callers: 10,000 agent desktops and 100 supervisors
// in 10 different scopes.
func BenchmarkQueueStatsPush(b *testing.B) {
	const agents, supervisors, groups, waiting = 10000, 100, 10, 1000
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var queues []routing.Queue
	for g := 0; g < groups; g++ {
		queues = append(queues, routing.Queue{Name: fmt.Sprintf("q%d", g)})
	}
	a, err := acd.New(acd.Config{Routing: routing.Config{
		Tiers:  []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}},
		Queues: queues}, Logger: quiet}, acd.Deps{Phone: answeringPhone{}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	var accts []Account
	for i := 0; i < agents; i++ {
		q := fmt.Sprintf("q%d", i%groups)
		accts = append(accts, Account{ID: fmt.Sprintf("a%05d", i), Password: "p",
			Profile: acd.AgentProfile{Skills: map[string]int{q: 1}, Groups: []string{q}}})
	}
	for i := 0; i < supervisors; i++ {
		accts = append(accts, Account{ID: fmt.Sprintf("s%03d", i), Role: RoleSupervisor, Password: "p",
			Supervises: []string{fmt.Sprintf("q%d", i%groups)}})
	}
	srv, err := New(Config{ACD: a, Accounts: accts, PasswordCost: bcryptMin, StatsEvery: -1, Logger: quiet, SendQueue: 1 << 20, WatcherSendQueue: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var clients []*client
	for _, ac := range accts {
		acct := srv.accounts[ac.ID]
		if acct.hasSeat() {
			if err := a.Login(acct.Profile); err != nil {
				b.Fatal(err)
			}
			_ = a.SetNotReady(acct.ID, "bench") // keep callers waiting
		}
		c := newClient(srv, nil, "bench")
		sess, _, err := srv.sessions.open(acct, c)
		if err != nil {
			b.Fatal(err)
		}
		srv.bind(c, sess)
		clients = append(clients, c)
	}
	for i := 0; i < waiting; i++ {
		if _, err := a.Enqueue(b.Context(), acd.Call{Caller: "1", Queue: fmt.Sprintf("q%d", i%groups), Tier: "normal"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv.pushStats()
		for _, c := range clients {
			c.take(nil)
		}
	}
}
