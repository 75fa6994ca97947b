package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// The graceful stop (upgrade by drain). Draining refuses new calls at every
// door — SIP INVITE 503 with Retry-After, OPTIONS 503 for the proxy's
// probe, /readyz 503 for a load balancer, the desktop's outbound and
// internal calls — while the calls in progress go on and agents keep
// working them. A stop (SIGTERM, POST /admin/drain?stop=1) drains, waits
// until the last call has ended or shutdown.grace has passed, then ends
// what is left (ended_by "shutdown") and stops; Abort (a second SIGTERM)
// ends the wait at once.

// drain is the engine's drain state.
type drain struct {
	mu       sync.Mutex
	on       bool // new calls refused
	stopping bool // a stop is under way: no undrain
	stop     chan struct{}
	abort    chan struct{}
	stopOnce sync.Once
	abrtOnce sync.Once
}

func newDrain() *drain {
	return &drain{stop: make(chan struct{}), abort: make(chan struct{})}
}

// retryAfter is what a refused caller's carrier is told to wait: a
// restart's worth, not the whole grace.
const retryAfter = 30 * time.Second

// Drain stops taking new calls; calls in progress go on. It returns the
// calls still up.
func (e *Engine) Drain() int {
	e.drain.mu.Lock()
	was := e.drain.on
	e.drain.on = true
	e.drain.mu.Unlock()
	e.ctl.SetDraining(true)
	e.sip.SetDraining(retryAfter)
	n := e.ctl.Active()
	if !was {
		e.log.Warn("draining: new calls are refused; calls in progress go on", "calls", n, "grace", e.conf().Shutdown.Grace.D())
	}
	return n
}

// Undrain takes calls again, unless a stop is under way; it reports
// whether it did.
func (e *Engine) Undrain() bool {
	e.drain.mu.Lock()
	defer e.drain.mu.Unlock()
	if e.drain.stopping {
		return false
	}
	if e.drain.on {
		e.log.Warn("drain cancelled: taking new calls again")
	}
	e.drain.on = false
	e.ctl.SetDraining(false)
	e.sip.SetDraining(0)
	return true
}

// Draining reports whether new calls are refused.
func (e *Engine) Draining() bool {
	e.drain.mu.Lock()
	defer e.drain.mu.Unlock()
	return e.drain.on
}

// Stop asks Run to drain and stop, as its context ending does.
func (e *Engine) Stop() { e.drain.stopOnce.Do(func() { close(e.drain.stop) }) }

// Abort ends a graceful stop's wait at once: the calls still up end now.
func (e *Engine) Abort() { e.drain.abrtOnce.Do(func() { close(e.drain.abort) }) }

// shutdownCalls is Run's graceful stop: drain, wait for the calls to end
// (grace, Abort or a failing part cut it short), then end the rest and
// wait for them to be gone.
func (e *Engine) shutdownCalls(errc <-chan error) error {
	e.drain.mu.Lock()
	e.drain.stopping = true
	e.drain.mu.Unlock()
	n := e.Drain()
	grace := e.conf().Shutdown.Grace.D()
	start := time.Now()
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	if n > 0 {
		e.log.Warn("stopping once the calls in progress have ended", "calls", n, "grace", grace)
	}
	var err error
	why := ""
wait:
	for e.ctl.Active() > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			why = "the grace ran out"
			break wait
		case <-e.drain.abort:
			why = "stop forced"
			break wait
		case err = <-errc:
			why = "a part of the engine failed"
			break wait
		}
	}
	if left := e.ctl.Active(); left > 0 {
		e.log.Warn("ending the calls still in progress", "calls", left, "why", why, "after", time.Since(start).Round(time.Millisecond))
		e.ctl.Shutdown()
		// Each owner ends its call at once; a few seconds cover the BYEs.
		bound := time.NewTimer(10 * time.Second)
		defer bound.Stop()
		for e.ctl.Active() > 0 {
			select {
			case <-tick.C:
				e.ctl.Shutdown() // a call admitted in the last instant
			case <-bound.C:
				e.log.Error("calls still up after shutdown; stopping anyway", "calls", e.ctl.Active())
				return err
			}
		}
	} else if n > 0 {
		e.log.Info("every call has ended", "after", time.Since(start).Round(time.Millisecond))
	}
	return err
}

// waitStop is what starts a stop: the context ending or Stop.
func (e *Engine) waitStop(ctx context.Context, errc <-chan error) error {
	select {
	case <-ctx.Done():
		return nil
	case <-e.drain.stop:
		return nil
	case err := <-errc:
		return err
	}
}

// drainRoutes serves the drain to operators: POST /admin/drain (stop=1:
// then stop once the calls have ended) and POST /admin/resume.
func (e *Engine) drainRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/drain", e.requireRole("supervisor", "admin")(func(w http.ResponseWriter, r *http.Request) {
		n := e.Drain()
		stop := r.URL.Query().Get("stop")
		if stop == "1" || stop == "true" {
			e.Stop()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"draining": true, "stopping": stop == "1" || stop == "true",
			"calls": n, "grace_seconds": e.conf().Shutdown.Grace.D().Seconds()})
	}))
	mux.HandleFunc("POST /admin/resume", e.requireRole("supervisor", "admin")(func(w http.ResponseWriter, r *http.Request) {
		if !e.Undrain() {
			http.Error(w, "the engine is stopping; it cannot take calls again", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"draining": false})
	}))
}

// readiness is /readyz: 503 while starting or draining, so a load
// balancer or proxy moves new traffic elsewhere.
func (e *Engine) readiness(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-e.ready:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	body := map[string]any{"ready": true, "active_legs": e.sip.ActiveLegs(), "flows": e.flows.Names()}
	w.Header().Set("Content-Type", "application/json")
	if e.Draining() {
		body["ready"], body["draining"], body["calls"] = false, true, e.ctl.Active()
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}
