package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/acd/cdr"
)

// records owns the three JSON-lines logs (calls, agent states, supervisor
// audit) and the tracker that assembles call records from the ACD bus and
// from what the call path tells it.
type records struct {
	dir     string
	calls   *cdr.Writer[cdr.Record]
	states  *cdr.Writer[cdr.AgentStateRecord]
	audit   *cdr.Writer[cdr.AuditRecord]
	tracker *cdr.Tracker
	history *cdr.History // the customer card's past calls (desktop.go)
}

func (e *Engine) buildRecords() error {
	dir := e.cfg.Resolve(e.cfg.Records)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hotline-records")
	}
	opt := cdr.WriterOptions{Dir: dir, Logger: e.log}
	var err error
	r := &records{dir: dir}
	callOpt := opt
	callOpt.Sinks = e.recordSinks()
	callOpt.OnLost = e.onLost("calls")
	if r.calls, err = cdr.NewCallWriter(callOpt); err != nil {
		return fmt.Errorf("engine: records %s: %w", dir, err)
	}
	opt.OnLost = e.onLost("agent_states")
	if r.states, err = cdr.NewAgentStateWriter(opt); err != nil {
		return fmt.Errorf("engine: records %s: %w", dir, err)
	}
	opt.OnLost = e.onLost("audit")
	if r.audit, err = cdr.NewAuditWriter(opt); err != nil {
		return fmt.Errorf("engine: records %s: %w", dir, err)
	}
	e.records = r
	return nil
}

// startTracker subscribes the tracker to the ACD bus (before any call).
func (e *Engine) startTracker() {
	sub := e.bus.Subscribe("cdr", 4096)
	opt := cdr.TrackerOptions{ShortAbandon: e.cfg.ACD.ShortAbandon.D(), Logger: e.log}
	if e.cluster != nil {
		opt.Node = e.cluster.store.Node()
	}
	e.records.tracker = cdr.NewTracker(historyWriter{countingWriter{e.records.calls, e.metrics.calls, func(r cdr.Record) {
		if e.ctl != nil {
			e.ctl.RecordWritten(r)
		}
	}}, e.callHistory()}, sub.C, opt)
}

// countingWriter counts calls by the disposition their record ends with, so
// the metric and the records can never disagree.
type countingWriter struct {
	w     cdr.RecordWriter
	count *prometheus.CounterVec
	// written tells call control a record went out (one record per call).
	written func(cdr.Record)
}

func (c countingWriter) Write(r cdr.Record) error {
	c.count.WithLabelValues(string(r.Disposition)).Inc()
	if c.written != nil {
		c.written(r)
	}
	return c.w.Write(r)
}

// runRecords runs the writers and the tracker until ctx ends, then drains
// them in order: the tracker writes what is open, the writers flush.
func (r *records) run(ctx context.Context, log interface{ Error(string, ...any) }) func() {
	var wg sync.WaitGroup
	wctx, stopWriters := context.WithCancel(context.Background())
	for _, run := range []func(context.Context) error{r.calls.Run, r.states.Run, r.audit.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("record writer", "err", err)
			}
		}()
	}
	tctx, stopTracker := context.WithCancel(context.Background())
	trackerDone := make(chan struct{})
	go func() {
		defer close(trackerDone)
		if err := r.tracker.Run(tctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("record tracker", "err", err)
		}
	}()
	return func() {
		stopTracker()
		<-trackerDone
		_ = r.calls.Close()
		_ = r.states.Close()
		_ = r.audit.Close()
		stopWriters()
		wg.Wait()
	}
}
