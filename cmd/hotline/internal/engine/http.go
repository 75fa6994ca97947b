package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/sip/guard"
)

func (e *Engine) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", e.readiness)
	e.drainRoutes(mux)
	e.clusterRoutes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /admin/reload", e.requireRole("supervisor", "admin")(e.reloadHandler))
	// The call-integrity check on demand: stuck agents, legs without a
	// call, double bookings, missing or duplicate records.
	mux.HandleFunc("GET /admin/integrity", e.requireRole("supervisor", "admin")(func(w http.ResponseWriter, r *http.Request) {
		// What persists over a second is a violation, not a call caught mid-change.
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		v := e.ctl.CheckSettled(ctx, integrityRecordGrace)
		w.Header().Set("Content-Type", "application/json")
		if len(v) > 0 {
			w.WriteHeader(http.StatusConflict)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": len(v) == 0, "violations": v})
	}))
	mux.HandleFunc("GET /api/agents", e.requireRole("supervisor", "admin")(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e.acd.Agents())
	}))
	// Service levels and reports carry per-agent figures: supervisors only,
	// by desktop session token or basic auth.
	mux.HandleFunc("GET /api/service-levels", e.requireSupervisor(e.serviceLevels))
	mux.HandleFunc("/api/campaigns", e.requireSupervisor(e.campaignsHandler))
	mux.HandleFunc("/api/campaigns/", e.requireSupervisor(e.campaignsHandler))
	mux.HandleFunc("GET /api/reports", e.requireSupervisor(func(w http.ResponseWriter, r *http.Request) {
		cdr.ReportHandler(e.records.dir, e.plan.Load().targets).ServeHTTP(w, r) // the targets of the moment
	}))
	mux.Handle("/recordings/", e.refuseBanned(recording.NewHandler(e.recDir, "/recordings/", e.recordingScope, e.log)))
	// Profiles for operators chasing a latency knee (admin and supervisors only).
	mux.HandleFunc("/debug/pprof/", e.requireRole("admin", "supervisor")(pprof.Index))
	mux.HandleFunc("/debug/pprof/profile", e.requireRole("admin", "supervisor")(pprof.Profile))
	mux.HandleFunc("/debug/pprof/trace", e.requireRole("admin", "supervisor")(pprof.Trace))
	// The desktop, the wallboard and their WebSocket (/ws).
	mux.Handle("/", e.api.Handler())
	return mux
}

// requireRole guards admin endpoints with HTTP basic auth against the
// configured agents' password hashes, through the brute-force guard (a
// banned source gets 429). The WebSocket API has its own session tokens.
func (e *Engine) requireRole(roles ...string) func(http.HandlerFunc) http.HandlerFunc {
	return func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a, ok := e.basicAuth(w, r)
			if !ok {
				return
			}
			for _, role := range roles {
				if a.Role == role {
					next(w, r)
					return
				}
			}
			http.Error(w, "role "+a.Role+" may not do this", http.StatusForbidden)
		}
	}
}

// recordingScope lets supervisors and admins hear every recording and an
// agent only the calls it took.
// Callers prove themselves with the desktop's session token (Authorization:
// Bearer, or ?token= for a browser's audio element) or with HTTP basic auth.
func (e *Engine) recordingScope(r *http.Request) (recording.Scope, error) {
	var id, role string
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == r.Header.Get("Authorization") {
		token = r.URL.Query().Get("token")
	}
	if uid, urole, ok := e.api.Authenticate(token); ok {
		id, role = uid, string(urole)
	} else {
		user, pass, ok := r.BasicAuth()
		a, known := e.agent(user)
		src, srcOK := httpSource(r)
		if srcOK && !e.guard.Allowed(src, user) {
			return nil, recording.ErrUnauthenticated
		}
		if !ok || !known || !e.basicCache.check(user, pass, a.PasswordHash) {
			if ok && srcOK {
				e.guard.Fail(guard.SurfaceHTTPBasic, src, user)
			}
			return nil, recording.ErrUnauthenticated
		}
		id, role = a.ID, a.Role
	}
	if role == "supervisor" || role == "admin" {
		return func(recording.Meta) bool { return true }, nil
	}
	return func(m recording.Meta) bool { return m.Agent == id }, nil
}

// requireSupervisor admits a supervisor or admin by desktop session token
// (Authorization: Bearer, or ?token=) or by basic auth.
func (e *Engine) requireSupervisor(next http.HandlerFunc) http.HandlerFunc {
	basic := e.requireRole("supervisor", "admin")(next)
	return func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == r.Header.Get("Authorization") {
			token = r.URL.Query().Get("token")
		}
		if token != "" {
			if _, role, ok := e.api.Authenticate(token); ok {
				if role == agentapi.RoleSupervisor || role == agentapi.RoleAdmin {
					next(w, r)
					return
				}
				http.Error(w, "role "+string(role)+" may not do this", http.StatusForbidden)
				return
			}
		}
		basic(w, r)
	}
}
