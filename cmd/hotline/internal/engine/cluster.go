package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/acd/redisstore"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/routing/crm"
	crmredis "github.com/hotlinecc/hotline/routing/crm/redisstore"
)

// cluster is this node's share of a multi-node centre (store: redis): the
// ACD's shared store and bus, the shared registrations, and the table of
// calls held by other nodes that this node's desktops act on.
type cluster struct {
	store     *redisstore.Store
	link      *redisstore.Link
	regs      *redisstore.Registrations
	customers *crmredis.Store

	mu      sync.Mutex
	callAt  map[string]string // call id → node holding it (calls of other nodes our agents took)
	callAge []string          // insertion order, to bound callAt
}

// buildCluster connects to Redis when the configuration asks for it. It
// does not wait for Redis: a node that starts while Redis is down serves
// in degraded mode and joins when Redis answers.
func (e *Engine) buildCluster() error {
	if e.cfg.Store != "redis" {
		return nil
	}
	rc := e.cfg.Redis
	opts := redisstore.Options{Addr: rc.Addr, Sentinel: rc.Sentinel, SentinelPassword: rc.SentinelPassword,
		Password: rc.Password, DB: rc.DB, Prefix: rc.Prefix, Node: rc.Node,
		LeaseTTL: rc.LeaseTTL.D(), Timeout: rc.Timeout.D()}
	if rc.TLS {
		host, _, err := net.SplitHostPort(strings.Split(rc.Addr, ",")[0])
		if err != nil {
			host = rc.Addr
		}
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		if rc.CA != "" {
			pem, err := os.ReadFile(e.cfg.Resolve(rc.CA))
			if err != nil {
				return fmt.Errorf("engine: redis.ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("engine: redis.ca %s: no PEM certificate", rc.CA)
			}
			opts.TLS.RootCAs = pool
		}
	}
	store, err := redisstore.New(opts)
	if err != nil {
		return fmt.Errorf("engine: redis: %w", err)
	}
	opts.Node = store.Node() // one name for the ACD and the registrations
	regs, err := redisstore.NewRegistrations(opts)
	if err != nil {
		store.Close()
		return fmt.Errorf("engine: redis registrations: %w", err)
	}
	customers, err := crmredis.New(crmredis.Options{Addr: rc.Addr, Sentinel: rc.Sentinel, SentinelPassword: rc.SentinelPassword,
		Password: rc.Password, DB: rc.DB, TLS: opts.TLS,
		Prefix: store.Prefix(), Timeout: rc.Timeout.D(), Logger: e.log})
	if err != nil {
		regs.Close()
		store.Close()
		return fmt.Errorf("engine: redis customers: %w", err)
	}
	e.cluster = &cluster{store: store, link: redisstore.NewLink(store, e.log), regs: regs, customers: customers, callAt: map[string]string{}}
	e.log.Info("cluster mode: shared state in Redis", "node", store.Node(), "redis", rc.Addr, "prefix", store.Prefix())
	return nil
}

// customerStore is the node's customer store: memory, or in cluster mode
// the shared Redis set with this node's memory copy behind it (lookups
// while Redis is down still know the diamond customers).
func (e *Engine) customerStore() crm.Store {
	local := crm.NewMemStore()
	if e.cluster == nil {
		return local
	}
	return crm.Fallback{Shared: e.cluster.customers, Local: local, Report: func(op string, err error) {
		e.log.Warn("shared customer store unavailable; this node's copy is used", "op", op, "err", err)
	}}
}

// clusterMetrics exports the node's view of the cluster.
func (e *Engine) clusterMetrics() {
	if e.cluster == nil {
		return
	}
	l := e.cluster.link
	e.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_cluster_degraded",
			Help: "1 while Redis is unreachable and this node routes its own agents only (alert on it)."}, func() float64 {
			if l.Down() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_cluster_peers",
			Help: "Other nodes whose agents or callers this node currently routes."}, func() float64 {
			return float64(len(e.acd.Nodes()))
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hotline_cluster_messages_dropped_total",
			Help: "Cluster messages dropped because the outgoing queue was full (snapshots repair them)."}, func() float64 {
			return float64(l.Dropped())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hotline_cluster_writes_dropped_total",
			Help: "Shared-state writes dropped because their queue was full."}, func() float64 {
			return float64(l.WritesDropped())
		}),
	)
}

// recordSinks sends call records to a Redis stream in cluster mode, so the
// whole centre's records are in one place.
func (e *Engine) recordSinks() []cdr.Sink {
	if e.cluster == nil {
		return nil
	}
	return []cdr.Sink{&cdr.RedisStream{Client: e.cluster.store.Client(), Stream: e.cluster.store.Prefix() + "records"}}
}

// runCluster serves the node's membership until ctx ends.
func (e *Engine) runCluster(ctx context.Context) {
	if e.cluster == nil {
		return
	}
	e.cluster.link.Handle(e.serveRemote)
	if a := e.advertise(); a != "" {
		e.cluster.link.Advertise(a)
	} else {
		e.log.Warn("cluster: no HTTP address (http.listen) for direct requests; agents on other nodes' calls stay busy while Redis is down until it returns")
	}
	if err := e.cluster.link.Run(ctx, member{e.acd, e}); err != nil && !errors.Is(err, context.Canceled) {
		e.log.Error("cluster link", "err", err)
	}
}

// member is the engine's side of the cluster link: the ACD, plus the
// registrations this node shares again when it rejoins (Redis may have
// come back empty).
type member struct {
	*acd.ACD
	e *Engine
}

// Rejoin shares the phones first: once the ACD rejoins, other nodes may
// ring them.
func (m member) Rejoin(ctx context.Context) {
	m.e.sip.Republish()
	m.ACD.Rejoin(ctx)
}

func (e *Engine) closeCluster() {
	if e.cluster == nil {
		return
	}
	_ = e.cluster.regs.Close()
	_ = e.cluster.customers.Close()
	_ = e.cluster.store.Close()
}

// noteRemoteCall remembers which node holds a call one of our agents took,
// so that its desktop's buttons reach that node even after the call ended
// (the wrap-up code).
func (c *cluster) noteRemoteCall(callID, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.callAt[callID]; ok {
		return
	}
	c.callAt[callID] = node
	c.callAge = append(c.callAge, callID)
	if len(c.callAge) > 10000 {
		delete(c.callAt, c.callAge[0])
		c.callAge = c.callAge[1:]
	}
}

func (c *cluster) nodeOf(callID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callAt[callID]
}

// serveRemote runs an action another node forwarded on this node's call.
func (e *Engine) serveRemote(ctx context.Context, op string, body json.RawMessage) (any, error) {
	if op != "act" {
		return nil, fmt.Errorf("unknown operation %q", op)
	}
	var a agentapi.CallAction
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("bad call action: %w", err)
	}
	if err := e.ctl.Act(ctx, a); err != nil {
		return nil, err
	}
	if a.Op == agentapi.OpMonitor {
		// The supervisor's node audits the action; the call's record is here.
		if id := e.ctl.CallOf(a.Agent); id != "" {
			at := time.Now()
			e.records.tracker.Update(id, func(rec *cdr.Record) {
				rec.SupervisorActions = append(rec.SupervisorActions, cdr.SupervisorAction{At: at, Supervisor: a.Supervisor, Action: "monitor " + string(a.Mode)})
			})
		}
	}
	return nil, nil
}

// clusterControl is the desktop's call control in cluster mode: an action
// on a call this node holds runs here, one on a call another node holds is
// forwarded there (the call's media is anchored on that node).
type clusterControl struct {
	*callctl.Control
	e *Engine
}

// remoteNode says which other node holds the call, "" when it is ours or
// unknown.
func (cc clusterControl) remoteNode(agentID, callID string) string {
	e := cc.e
	if callID != "" {
		if e.ctl.Has(callID) {
			return ""
		}
		if n := e.cluster.nodeOf(callID); n != "" {
			return n
		}
	}
	if s, err := e.acd.Agent(agentID); err == nil && (callID == "" || s.CallID == callID) {
		return s.CallNode
	}
	return ""
}

// Act runs the action here, or on the node holding the call.
func (cc clusterControl) Act(ctx context.Context, a agentapi.CallAction) error {
	call := a.Call
	if a.Op == agentapi.OpMonitor {
		if cc.e.ctl.CallOf(a.Agent) != "" {
			return cc.Control.Act(ctx, a)
		}
		call = ""
	}
	if n := cc.remoteNode(a.Agent, call); n != "" {
		err := cc.e.cluster.link.Call(ctx, n, "act", a, nil)
		if errors.Is(err, acd.ErrStoreUnavailable) {
			// Redis is down: straight to the node holding the call.
			err = cc.e.cluster.link.Direct(ctx, n, "act", a, nil)
		}
		return err
	}
	return cc.Control.Act(ctx, a)
}

var _ agentapi.CallControl = clusterControl{}

// clusterRoutes serves the other nodes' direct requests (used while Redis
// is down) and tells them where to send them.
func (e *Engine) clusterRoutes(mux *http.ServeMux) {
	if e.cluster == nil {
		return
	}
	mux.Handle(redisstore.DirectPath, e.cluster.link.DirectHandler(e.serveRemote))
}

// advertise is the address other nodes reach this node's HTTP server at.
func (e *Engine) advertise() string {
	if a := e.cfg.Redis.Advertise; a != "" {
		return a
	}
	addr := e.HTTPAddr()
	if addr == "" {
		return ""
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return addr
	}
	if ap.Addr().IsUnspecified() {
		if ip, err := netip.ParseAddr(e.cfg.SIP.MediaIP); err == nil {
			return netip.AddrPortFrom(ip, ap.Port()).String()
		}
	}
	return addr
}
