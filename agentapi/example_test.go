package agentapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/routing"
)

type phone struct{}

func (phone) Ring(ctx context.Context, o acd.Offer) error { return nil }

// How the engine wires the agent API: build it on the ACD with the
// configured accounts and its CallControl, run it, mount its handler at
// the root of the HTTP server (it serves /ws and the desktop at /).
func Example() {
	a, err := acd.New(acd.Config{Routing: routing.Config{
		Tiers:  []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}},
		Queues: []routing.Queue{{Name: "general"}},
	}}, acd.Deps{Phone: phone{}})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	srv, err := agentapi.New(agentapi.Config{
		ACD: a,
		// Calls: the engine's CallControl; nil answers "unsupported".
		Accounts: []agentapi.Account{
			{ID: "1001", Name: "Agent 1001", Role: agentapi.RoleAgent, Password: "pass1001",
				Profile: acd.AgentProfile{Skills: map[string]int{"general": 1}}},
			{ID: "9001", Name: "Supervisor 9001", Role: agentapi.RoleSupervisor, Password: "pass9001"},
		},
		StatsEvery:   2 * time.Second,
		BreakReasons: []string{"lunch", "rest"},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	web := httptest.NewServer(mux)
	defer web.Close()

	resp, err := http.Get(web.URL + "/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("desktop:", resp.Status, resp.Header.Get("Content-Type"))
	// Output:
	// desktop: 200 OK text/html; charset=utf-8
}
