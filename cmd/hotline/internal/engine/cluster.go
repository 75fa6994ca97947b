package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/acd/redisstore"
	"github.com/hotlinecc/hotline/agentapi"
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

// remoteOp is one desktop or supervisor action forwarded to the node that
// holds the call.
type remoteOp struct {
	Agent      string               `json:"agent,omitempty"`
	Call       string               `json:"call,omitempty"`
	On         bool                 `json:"on,omitempty"`
	Digits     string               `json:"digits,omitempty"`
	Target     *agentapi.Target     `json:"target,omitempty"`
	Blind      bool                 `json:"blind,omitempty"`
	Code       string               `json:"code,omitempty"`
	Supervisor string               `json:"supervisor,omitempty"`
	Mode       agentapi.MonitorMode `json:"mode,omitempty"`
}

// remoteOps runs each forwardable action on this node's call control; the
// same table serves an action made here and one another node forwarded.
var remoteOps = map[string]func(callControl, context.Context, remoteOp) error{
	"answer": func(cc callControl, ctx context.Context, r remoteOp) error { return cc.Answer(ctx, r.Agent, r.Call) },
	"hangup": func(cc callControl, ctx context.Context, r remoteOp) error { return cc.Hangup(ctx, r.Agent, r.Call) },
	"hold": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.Hold(ctx, r.Agent, r.Call, r.On)
	},
	"mute": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.Mute(ctx, r.Agent, r.Call, r.On)
	},
	"pause-recording": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.PauseRecording(ctx, r.Agent, r.Call, r.On)
	},
	"dtmf": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.SendDTMF(ctx, r.Agent, r.Call, r.Digits)
	},
	"transfer": func(cc callControl, ctx context.Context, r remoteOp) error {
		if r.Target == nil {
			return errors.New("transfer without a target")
		}
		return cc.Transfer(ctx, r.Agent, r.Call, *r.Target, r.Blind)
	},
	"consult": func(cc callControl, ctx context.Context, r remoteOp) error {
		if r.Target == nil {
			return errors.New("consult without a target")
		}
		return cc.Consult(ctx, r.Agent, r.Call, *r.Target)
	},
	"complete": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.CompleteTransfer(ctx, r.Agent, r.Call)
	},
	"conference": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.Conference(ctx, r.Agent, r.Call)
	},
	"return": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.ReturnToCaller(ctx, r.Agent, r.Call)
	},
	"disposition": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.Disposition(ctx, r.Agent, r.Call, r.Code)
	},
	"monitor": func(cc callControl, ctx context.Context, r remoteOp) error {
		return cc.Monitor(ctx, r.Supervisor, r.Agent, r.Mode)
	},
}

// serveRemote runs an action another node forwarded on this node's call.
func (e *Engine) serveRemote(ctx context.Context, op string, body json.RawMessage) (any, error) {
	var r remoteOp
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("bad %s request: %w", op, err)
	}
	run, ok := remoteOps[op]
	if !ok {
		return nil, fmt.Errorf("unknown operation %q", op)
	}
	if err := run(callControl{e}, ctx, r); err != nil {
		return nil, err
	}
	if op == "monitor" {
		// The supervisor's node audits the action; the call's record is here.
		if c := e.callOfAgent(r.Agent); c != nil {
			at := time.Now()
			e.records.tracker.Update(c.id, func(rec *cdr.Record) {
				rec.SupervisorActions = append(rec.SupervisorActions, cdr.SupervisorAction{At: at, Supervisor: r.Supervisor, Action: "monitor " + string(r.Mode)})
			})
		}
	}
	return nil, nil
}

// clusterControl is the desktop's call control in cluster mode: an action
// on a call this node holds runs here, one on a call another node holds is
// forwarded there (the call's media is anchored on that node).
type clusterControl struct {
	callControl
}

// remoteNode says which other node holds the call, "" when it is ours or
// unknown.
func (cc clusterControl) remoteNode(agentID, callID string) string {
	e := cc.e
	if callID != "" {
		e.mu.Lock()
		_, local := e.calls[callID]
		e.mu.Unlock()
		if local {
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

// do runs op here, or on the node holding the call.
func (cc clusterControl) do(ctx context.Context, op string, r remoteOp) error {
	if n := cc.remoteNode(r.Agent, r.Call); n != "" {
		return cc.e.cluster.link.Call(ctx, n, op, r, nil)
	}
	return remoteOps[op](cc.callControl, ctx, r)
}

// Answer implements agentapi.CallControl.
func (cc clusterControl) Answer(ctx context.Context, agentID, callID string) error {
	return cc.do(ctx, "answer", remoteOp{Agent: agentID, Call: callID})
}

// Hangup implements agentapi.CallControl.
func (cc clusterControl) Hangup(ctx context.Context, agentID, callID string) error {
	return cc.do(ctx, "hangup", remoteOp{Agent: agentID, Call: callID})
}

// Hold implements agentapi.CallControl.
func (cc clusterControl) Hold(ctx context.Context, agentID, callID string, on bool) error {
	return cc.do(ctx, "hold", remoteOp{Agent: agentID, Call: callID, On: on})
}

// Mute implements agentapi.CallControl.
func (cc clusterControl) Mute(ctx context.Context, agentID, callID string, on bool) error {
	return cc.do(ctx, "mute", remoteOp{Agent: agentID, Call: callID, On: on})
}

// PauseRecording implements agentapi.CallControl.
func (cc clusterControl) PauseRecording(ctx context.Context, agentID, callID string, on bool) error {
	return cc.do(ctx, "pause-recording", remoteOp{Agent: agentID, Call: callID, On: on})
}

// SendDTMF implements agentapi.CallControl.
func (cc clusterControl) SendDTMF(ctx context.Context, agentID, callID, digits string) error {
	return cc.do(ctx, "dtmf", remoteOp{Agent: agentID, Call: callID, Digits: digits})
}

// Transfer implements agentapi.CallControl.
func (cc clusterControl) Transfer(ctx context.Context, agentID, callID string, to agentapi.Target, blind bool) error {
	return cc.do(ctx, "transfer", remoteOp{Agent: agentID, Call: callID, Target: &to, Blind: blind})
}

// Consult implements agentapi.CallControl.
func (cc clusterControl) Consult(ctx context.Context, agentID, callID string, to agentapi.Target) error {
	return cc.do(ctx, "consult", remoteOp{Agent: agentID, Call: callID, Target: &to})
}

// CompleteTransfer implements agentapi.CallControl.
func (cc clusterControl) CompleteTransfer(ctx context.Context, agentID, callID string) error {
	return cc.do(ctx, "complete", remoteOp{Agent: agentID, Call: callID})
}

// Conference implements agentapi.CallControl.
func (cc clusterControl) Conference(ctx context.Context, agentID, callID string) error {
	return cc.do(ctx, "conference", remoteOp{Agent: agentID, Call: callID})
}

// ReturnToCaller implements agentapi.CallControl.
func (cc clusterControl) ReturnToCaller(ctx context.Context, agentID, callID string) error {
	return cc.do(ctx, "return", remoteOp{Agent: agentID, Call: callID})
}

// Disposition implements agentapi.CallControl.
func (cc clusterControl) Disposition(ctx context.Context, agentID, callID, code string) error {
	return cc.do(ctx, "disposition", remoteOp{Agent: agentID, Call: callID, Code: code})
}

// Monitor implements agentapi.CallControl: the supervisor's phone is rung
// by the node holding the agent's call, wherever the phone registered.
func (cc clusterControl) Monitor(ctx context.Context, supervisorID, agentID string, mode agentapi.MonitorMode) error {
	r := remoteOp{Supervisor: supervisorID, Agent: agentID, Mode: mode}
	if cc.e.callOfAgent(agentID) == nil {
		if n := cc.remoteNode(agentID, ""); n != "" {
			return cc.e.cluster.link.Call(ctx, n, "monitor", r, nil)
		}
	}
	return remoteOps["monitor"](cc.callControl, ctx, r)
}

var _ agentapi.CallControl = clusterControl{}
