package cdr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
)

// The engine's wiring: one writer per log, a tracker fed by the ACD bus,
// and the three calls the call path makes. Reports read the files back.
func Example() {
	dir, _ := os.MkdirTemp("", "cdr-example")
	defer os.RemoveAll(dir)

	calls, err := cdr.NewCallWriter(cdr.WriterOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	writerDone := make(chan error, 1)
	go func() { writerDone <- calls.Run(context.Background()) }()

	bus := acd.NewBus(0) // the engine passes acd.Deps{Bus: bus, Log: cdr.AgentStateLog{W: stateWriter}}
	tracker := cdr.NewTracker(calls, bus.Subscribe("cdr", 4096).C, cdr.TrackerOptions{Node: "node-1"})
	ctx, shutdown := context.WithCancel(context.Background())
	trackerDone := make(chan error, 1)
	go func() { trackerDone <- tracker.Run(ctx) }()

	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	// INVITE arrives.
	tracker.Start("call-1", cdr.Record{Times: cdr.Times{Arrival: t0}, Caller: "+8613800000001", Dialled: "4001", AccessNumber: "4001"})
	// CRM lookup and IVR done (trace = json.Marshal(ivrResult.Trace)).
	trace, _ := json.Marshal([]map[string]string{{"node": "welcome", "event": "enter"}})
	tracker.Update("call-1", func(r *cdr.Record) {
		r.Customer = cdr.Customer{ID: "C1001", Tier: "gold"}
		r.IVRFlow, r.IVRTrace = "main", trace
		end := t0.Add(12 * time.Second)
		r.Times.IVREnd = &end
	})
	// The ACD publishes on the bus (here by hand): queued, then abandoned.
	bus.Publish(acd.Event{Type: acd.EventCallQueued, At: t0.Add(12 * time.Second), CallID: "call-1", Queue: "sales", Tier: "gold"})
	bus.Publish(acd.Event{Type: acd.EventCallAbandoned, At: t0.Add(42 * time.Second), CallID: "call-1", Wait: 30 * time.Second})
	// The caller's BYE.
	tracker.End("call-1", t0.Add(42*time.Second), "")

	// Shutdown: tracker first (writes what is open), then the writer (drains).
	shutdown()
	<-trackerDone
	_ = calls.Close()
	<-writerDone

	for r, err := range cdr.Read(dir, time.Time{}, time.Time{}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(r.CallID, r.Customer.Tier, r.Queue, r.Disposition, r.WaitMS)
	}
	rows, _ := cdr.Report(cdr.Read(dir, time.Time{}, time.Time{}), cdr.Options{Interval: time.Hour, By: cdr.ByTier})
	fmt.Println(rows[0].Key, "offered", rows[0].Offered, "abandoned", rows[0].Abandoned)
	// Output:
	// call-1 gold sales abandoned_queue 30000
	// gold offered 1 abandoned 1
}
