package apitest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/routing"
)

type phone struct{}

func (phone) Ring(ctx context.Context, o acd.Offer) error { return nil }

func TestClientAgainstServer(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := acd.New(acd.Config{Routing: routing.Config{
		Tiers:  []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}},
		Queues: []routing.Queue{{Name: "general"}}}, WrapUp: time.Hour, Logger: quiet}, acd.Deps{Phone: phone{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv, err := agentapi.New(agentapi.Config{ACD: a, Logger: quiet, StatsEvery: -1, Accounts: []agentapi.Account{
		{ID: "1001", Password: "pass1001", Profile: acd.AgentProfile{Skills: map[string]int{"general": 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()

	c, err := apitest.Dial(ctx, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "1001", "wrong", ""); err == nil {
		t.Fatal("wrong password accepted")
	} else if re := (*apitest.RefusedError)(nil); !errors.As(err, &re) || re.Code != agentapi.CodeBadCredentials {
		t.Fatalf("login error = %v", err)
	}
	r, err := c.Login(ctx, "1001", "pass1001", "")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Token string
		Seat  agentapi.SeatView
	}
	if err := r.Decode(&res); err != nil || res.Token == "" || res.Seat.State != acd.Ready {
		t.Fatalf("login result = %+v, %v", res, err)
	}
	if _, err := a.Enqueue(ctx, acd.Call{ID: "c1", Caller: "13800000001", Queue: "general", Tier: "normal",
		Customer: map[string]string{"name": "Demo"}}); err != nil {
		t.Fatal(err)
	}
	ev, err := c.WaitEvent(ctx, apitest.Is("call.offered", "1001", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Call == nil || ev.Call.Customer["name"] != "Demo" {
		t.Errorf("offer = %+v", ev)
	}
	r, err = c.Do(ctx, "hangup", nil)
	if err != nil || r.Code() != agentapi.CodeUnsupported {
		t.Errorf("hangup without call control: %+v, %v", r, err)
	}
}
