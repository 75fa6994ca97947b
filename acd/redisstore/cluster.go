package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd"
)

// Member is what a Link drives on its node: the ACD's cluster side.
type Member interface {
	Receive(m acd.ClusterMsg)
	SetDegraded()
	Rejoin(ctx context.Context)
	NodeGone(node string)
}

// Handler answers a request another node sent with Link.Call.
type Handler func(ctx context.Context, op string, body json.RawMessage) (any, error)

// Link is one node's membership of the cluster: the acd.Cluster transport
// over one Redis pub/sub channel (<prefix>bus), the node's lease, the
// reaper of dead nodes, and the watch on Redis that switches the ACD to
// degraded mode when Redis is unreachable and back when it returns.
//
// The ACD's Store must be the Link's Store (Link.Store): it refuses at once
// while Redis is known to be down instead of timing out under the ACD lock,
// and replays the service-level counters this node added meanwhile.
type Link struct {
	s       *Store
	guard   *Guard
	channel string
	out     chan []byte
	log     *slog.Logger

	down    atomic.Bool
	dropped atomic.Uint64
	seq     atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan envelope
	handler Handler
	member  Member // set by Run (direct requests answer for it)

	peers peers // peers.go
}

// Probe is how often Run checks Redis; two failed checks in a row make the
// node degraded.
const Probe = 250 * time.Millisecond

// NewLink builds the link of s's node. Call Run to join.
func NewLink(s *Store, log *slog.Logger) *Link {
	if log == nil {
		log = slog.Default()
	}
	return &Link{s: s, guard: newGuard(s), channel: s.key("bus"), out: make(chan []byte, 8192), log: log, pending: map[string]chan envelope{},
		peers: peers{hc: &http.Client{Timeout: 2 * time.Second}}}
}

// Store is the acd.Store the node's ACD must use.
func (l *Link) Store() acd.Store { return l.guard }

// Node implements acd.Cluster.
func (l *Link) Node() string { return l.s.node }

// Down reports whether Redis is unreachable (degraded mode).
func (l *Link) Down() bool { return l.down.Load() }

// Dropped counts messages lost because the outgoing queue was full.
func (l *Link) Dropped() uint64 { return l.dropped.Load() }

// WritesDropped counts state writes lost because their queue was full (the
// rejoin after an outage rewrites the state; counters are replayed).
func (l *Link) WritesDropped() uint64 { return l.guard.dropped.Load() }

// envelope is one message on the bus.
type envelope struct {
	Kind string          `json:"k"` // acd, req, rep
	From string          `json:"f"`
	To   string          `json:"t,omitempty"`
	ACD  *acd.ClusterMsg `json:"m,omitempty"`
	ID   string          `json:"id,omitempty"`
	Op   string          `json:"op,omitempty"`
	Body json.RawMessage `json:"b,omitempty"`
	Err  string          `json:"e,omitempty"`
}

// Send implements acd.Cluster. It never blocks: when the queue is full the
// message is dropped (the periodic snapshot repairs the other nodes).
func (l *Link) Send(m acd.ClusterMsg) {
	l.enqueue(envelope{Kind: "acd", From: l.s.node, To: m.To, ACD: &m})
}

func (l *Link) enqueue(e envelope) {
	b, err := json.Marshal(e)
	if err != nil {
		l.log.Error("cluster: encode message", "kind", e.Kind, "err", err)
		return
	}
	select {
	case l.out <- b:
	default:
		l.dropped.Add(1)
	}
}

// Handle sets the function answering other nodes' Call requests.
func (l *Link) Handle(h Handler) {
	l.mu.Lock()
	l.handler = h
	l.mu.Unlock()
}

// ErrNodeUnreachable is returned by Call when the other node did not answer.
var ErrNodeUnreachable = errors.New("node did not answer")

// Call sends a request to another node's Handler and decodes its answer into
// reply (may be nil). The other node's error comes back as an error text.
func (l *Link) Call(ctx context.Context, node, op string, body, reply any) error {
	if l.down.Load() {
		return fmt.Errorf("cluster: %s on node %s: %w", op, node, acd.ErrStoreUnavailable)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("cluster: %s: encode: %w", op, err)
	}
	id := fmt.Sprintf("%s-%d", l.s.node, l.seq.Add(1))
	ch := make(chan envelope, 1)
	l.mu.Lock()
	l.pending[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
	}()
	l.enqueue(envelope{Kind: "req", From: l.s.node, To: node, ID: id, Op: op, Body: b})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	select {
	case rep := <-ch:
		if rep.Err != "" {
			return fmt.Errorf("node %s: %s: %s", node, op, rep.Err)
		}
		if reply != nil && len(rep.Body) > 0 {
			if err := json.Unmarshal(rep.Body, reply); err != nil {
				return fmt.Errorf("cluster: %s: decode reply: %w", op, err)
			}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: %s on node %s: %w: %w", op, node, ErrNodeUnreachable, ctx.Err())
	}
}

// Run joins the cluster and serves until ctx ends: it publishes the
// outgoing queue, delivers the bus to m, renews the lease, reaps dead nodes
// every LeaseTTL/3 and switches m between degraded and joined as Redis comes
// and goes. Start it before the ACD routes calls.
func (l *Link) Run(ctx context.Context, m Member) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	l.member = m
	l.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); l.watchRemote(ctx, m) }()
	go func() { defer wg.Done(); l.guard.runWrites(ctx, l.log) }()
	go func() { defer wg.Done(); l.publish(ctx) }()
	go func() { defer wg.Done(); l.subscribe(ctx, m, &wg) }()
	l.watch(ctx, m)
	cancel()
	wg.Wait()
	return ctx.Err()
}

func (l *Link) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-l.out:
			if l.down.Load() {
				continue // degraded: the snapshot after rejoining replaces it
			}
			if err := l.s.rdb.Publish(ctx, l.channel, b).Err(); err != nil && ctx.Err() == nil {
				l.log.Debug("cluster: publish failed", "err", err)
			}
		}
	}
}

func (l *Link) subscribe(ctx context.Context, m Member, wg *sync.WaitGroup) {
	// go-redis re-subscribes after a lost connection; what was published
	// meanwhile is lost and repaired by the next snapshots.
	ps := l.s.rdb.Subscribe(ctx, l.channel)
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			var e envelope
			if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
				l.log.Warn("cluster: undecodable message on the bus", "err", err)
				continue
			}
			if e.From == l.s.node || (e.To != "" && e.To != l.s.node) {
				continue
			}
			switch e.Kind {
			case "acd":
				if e.ACD != nil {
					m.Receive(*e.ACD)
				}
			case "req":
				wg.Add(1)
				go func() { defer wg.Done(); l.serve(ctx, e) }()
			case "rep":
				l.mu.Lock()
				ch := l.pending[e.ID]
				l.mu.Unlock()
				if ch != nil {
					select {
					case ch <- e:
					default:
					}
				}
			}
		}
	}
}

func (l *Link) serve(ctx context.Context, req envelope) {
	l.mu.Lock()
	h := l.handler
	l.mu.Unlock()
	rep := envelope{Kind: "rep", From: l.s.node, To: req.From, ID: req.ID}
	if h == nil {
		rep.Err = "no handler for " + req.Op
	} else {
		ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		v, err := h(ctx, req.Op, req.Body)
		cancel()
		if err != nil {
			rep.Err = err.Error()
		} else if v != nil {
			if rep.Body, err = json.Marshal(v); err != nil {
				rep.Err = "encode reply: " + err.Error()
			}
		}
	}
	l.enqueue(rep)
}

// watch probes Redis, renews the lease, reaps dead nodes and switches
// degraded mode, until ctx ends.
func (l *Link) watch(ctx context.Context, m Member) {
	t := time.NewTicker(Probe)
	defer t.Stop()
	var failures int
	var lastRenew, lastReap, lastPeers time.Time
	joined, had := false, false
	for {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, l.s.timeout)
		err := l.s.rdb.Ping(pctx).Err()
		cancel()
		now := time.Now()
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			if failures == 2 && !l.down.Load() {
				l.log.Error("cluster: Redis unreachable; degraded mode, serving this node's agents only", "node", l.s.node, "err", err)
				l.down.Store(true)
				l.guard.setDown(true)
				m.SetDegraded()
			}
		case err == nil:
			failures = 0
			if l.guard.suspect.Swap(false) {
				l.guard.retryReleases(ctx)
			}
			if now.Sub(lastRenew) >= l.s.ttl/3 || l.down.Load() || !joined {
				held, rerr := l.s.Renew(ctx)
				if rerr == nil {
					lastRenew = now
					lost := had && !held
					had = true
					if l.down.Load() || !joined || lost {
						if lost {
							l.log.Warn("cluster: this node's lease had lapsed; writing its state again", "node", l.s.node)
						}
						// Joining, or back after an outage: clear every claim,
						// call and agent Redis holds for this node — a
						// predecessor's under the same name, or releases
						// missed while Redis was away — and write the live
						// ones again (Rejoin).
						if r, rerr := l.s.ResetOwn(ctx); rerr != nil {
							l.log.Warn("cluster: clearing this node's earlier state", "err", rerr)
						} else {
							l.guard.forgetReleases()
							if !joined && len(r.Claims)+len(r.Calls)+len(r.Agents) > 0 {
								l.log.Warn("cluster: cleared what an earlier process of this node left", "node", l.s.node,
									"claims", len(r.Claims), "calls", len(r.Calls), "agents", len(r.Agents))
							}
						}
						if gerr := l.guard.rejoin(ctx); gerr != nil {
							l.log.Warn("cluster: replaying service-level counters", "err", gerr)
						}
						l.guard.setDown(false)
						l.down.Store(false)
						m.Rejoin(ctx)
						if joined {
							l.log.Info("cluster: Redis reachable again; rejoined", "node", l.s.node)
						}
						joined = true
					}
				}
			}
			if now.Sub(lastPeers) >= l.s.ttl/3 && joined {
				if perr := l.sharePeers(ctx); perr != nil && ctx.Err() == nil {
					l.log.Warn("cluster: sharing this node's direct address", "err", perr)
				} else {
					lastPeers = now
				}
			}
			// A node that stops renewing is reaped at most a third of a
			// lease after its lease runs out.
			if now.Sub(lastReap) >= l.s.ttl/3 && joined {
				lastReap = now
				rs, rerr := l.s.Reap(ctx)
				if rerr != nil && ctx.Err() == nil {
					l.log.Warn("cluster: reaping dead nodes", "err", rerr)
				}
				for _, r := range rs {
					l.log.Warn("cluster: node lease ran out; its agents and callers are released", "dead", r.Node,
						"claims", len(r.Claims), "calls", len(r.Calls), "agents", len(r.Agents))
					l.forgetPeer(ctx, r.Node)
					m.NodeGone(r.Node)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Guard is the Link's acd.Store: the Redis store, refusing at once while
// Redis is known to be down, and remembering the service-level counters
// this node added so that they can be replayed when Redis returns — all of
// them if Redis lost its data (a new epoch), else those it missed.
type Guard struct {
	*Store
	down atomic.Bool
	// suspect is set when a claim or release failed for another reason
	// than a held claim: until the next good probe, claims fail at once,
	// so a frozen Redis stalls the ACD's lock for one timeout, not one per
	// call.
	suspect atomic.Bool
	// unreleased are releases that failed while Redis was suspect but not
	// known down: retried on the next good probe, or a claim would hold
	// its agent for ever. (After an outage the rejoin clears every claim
	// of this node instead.)
	relMu      sync.Mutex
	unreleased [][2]string
	// writes carries the records' writes (agents, calls, counters) to
	// Redis in order, off the ACD's lock: no node reads them to route (the
	// bus does that), they serve the reaper and the counters. Claims and
	// releases, which arbitrate between nodes, stay synchronous.
	writes  chan write
	dropped atomic.Uint64

	mu     sync.Mutex
	epoch  string
	total  map[[2]string]acd.SLDelta
	missed map[[2]string]acd.SLDelta
}

type write struct {
	op   string
	pipe func(context.Context, redis.Pipeliner) error
	sl   *acd.SLDelta // counters to replay if the write fails
}

// writeBatch bounds how many queued writes go out in one MULTI/EXEC.
const writeBatch = 256

func newGuard(s *Store) *Guard {
	return &Guard{Store: s, writes: make(chan write, 1<<16), total: map[[2]string]acd.SLDelta{}, missed: map[[2]string]acd.SLDelta{}}
}

// later queues a write; it fails at once while Redis is known to be down
// or the queue is full (the rejoin rewrites the state; counters are kept
// for replay).
func (g *Guard) later(w write) error {
	var err error
	if g.down.Load() {
		err = g.unavailable(w.op)
	} else {
		select {
		case g.writes <- w:
			return nil
		default:
			g.dropped.Add(1)
			err = fmt.Errorf("redisstore: %s: write queue full: %w", w.op, acd.ErrStoreUnavailable)
		}
	}
	if w.sl != nil {
		g.mu.Lock()
		addDelta(g.missed, *w.sl)
		g.mu.Unlock()
	}
	return err
}

// runWrites performs the queued writes until ctx ends, in order, as many
// as are waiting (up to writeBatch) in one MULTI/EXEC round trip.
func (g *Guard) runWrites(ctx context.Context, log *slog.Logger) {
	batch := make([]write, 0, writeBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case w := <-g.writes:
			batch = append(batch, w)
		}
	more:
		for len(batch) < writeBatch {
			select {
			case w := <-g.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 2*g.timeout)
		_, err := g.rdb.TxPipelined(wctx, func(p redis.Pipeliner) error {
			for _, w := range batch {
				if err := w.pipe(wctx, p); err != nil {
					log.Warn("cluster: shared state write refused", "op", w.op, "err", err)
				}
			}
			return nil
		})
		cancel()
		if err == nil {
			continue
		}
		g.mu.Lock()
		for _, w := range batch {
			if w.sl != nil {
				addDelta(g.missed, *w.sl)
			}
		}
		g.mu.Unlock()
		if ctx.Err() == nil && !g.down.Load() {
			log.Debug("cluster: shared state writes failed", "writes", len(batch), "err", err)
		}
	}
}

func (g *Guard) setDown(v bool) { g.down.Store(v) }

func (g *Guard) unavailable(op string) error {
	return fmt.Errorf("redisstore: %s: %w", op, acd.ErrStoreUnavailable)
}

// SaveAgent implements acd.Store (queued).
func (g *Guard) SaveAgent(_ context.Context, r acd.AgentRecord) error {
	return g.later(write{op: "save agent", pipe: func(ctx context.Context, p redis.Pipeliner) error { return g.saveAgent(ctx, p, r) }})
}

// DeleteAgent implements acd.Store (queued).
func (g *Guard) DeleteAgent(_ context.Context, id string) error {
	return g.later(write{op: "delete agent", pipe: func(ctx context.Context, p redis.Pipeliner) error { return g.deleteAgent(ctx, p, id) }})
}

// SaveCall implements acd.Store (queued).
func (g *Guard) SaveCall(_ context.Context, r acd.CallRecord) error {
	return g.later(write{op: "save call", pipe: func(ctx context.Context, p redis.Pipeliner) error { return g.saveCall(ctx, p, r) }})
}

// DeleteCall implements acd.Store (queued).
func (g *Guard) DeleteCall(_ context.Context, id string) error {
	return g.later(write{op: "delete call", pipe: func(ctx context.Context, p redis.Pipeliner) error { return g.deleteCall(ctx, p, id) }})
}

// Claim implements acd.Store.
func (g *Guard) Claim(ctx context.Context, callID, agentID string) error {
	if g.down.Load() || g.suspect.Load() {
		return g.unavailable("claim")
	}
	return g.watch(g.Store.Claim(ctx, callID, agentID))
}

// Release implements acd.Store.
func (g *Guard) Release(ctx context.Context, callID, agentID string) error {
	if g.down.Load() {
		return g.unavailable("release")
	}
	if g.suspect.Load() {
		g.keepRelease(callID, agentID)
		return g.unavailable("release")
	}
	err := g.watch(g.Store.Release(ctx, callID, agentID))
	if err != nil {
		g.keepRelease(callID, agentID)
	}
	return err
}

const maxUnreleased = 10000

func (g *Guard) keepRelease(callID, agentID string) {
	g.relMu.Lock()
	defer g.relMu.Unlock()
	if len(g.unreleased) < maxUnreleased {
		g.unreleased = append(g.unreleased, [2]string{callID, agentID})
	}
}

// retryReleases performs the releases that failed while Redis was suspect.
func (g *Guard) retryReleases(ctx context.Context) {
	g.relMu.Lock()
	todo := g.unreleased
	g.unreleased = nil
	g.relMu.Unlock()
	for i, r := range todo {
		if err := g.Store.Release(ctx, r[0], r[1]); err != nil {
			g.relMu.Lock()
			g.unreleased = append(g.unreleased, todo[i:]...)
			g.relMu.Unlock()
			return
		}
	}
}

// forgetReleases drops the failed releases once every claim of this node
// was cleared (rejoin).
func (g *Guard) forgetReleases() {
	g.relMu.Lock()
	g.unreleased = nil
	g.relMu.Unlock()
}

func (g *Guard) watch(err error) error {
	if err != nil && !errors.Is(err, acd.ErrClaimed) {
		g.suspect.Store(true)
	}
	return err
}

func addDelta(m map[[2]string]acd.SLDelta, d acd.SLDelta) {
	k := [2]string{d.Queue, d.Tier}
	t := m[k]
	t.Queue, t.Tier = d.Queue, d.Tier
	t.Offered += d.Offered
	t.Answered += d.Answered
	t.AnsweredWithin += d.AnsweredWithin
	t.Abandoned += d.Abandoned
	t.Overflowed += d.Overflowed
	m[k] = t
}

// AddSL implements acd.Store (queued).
func (g *Guard) AddSL(_ context.Context, d acd.SLDelta) error {
	g.mu.Lock()
	addDelta(g.total, d)
	g.mu.Unlock()
	return g.later(write{op: "add sl", sl: &d, pipe: func(ctx context.Context, p redis.Pipeliner) error { return g.addSL(ctx, p, d) }})
}

// SLTotals implements acd.Store.
func (g *Guard) SLTotals(ctx context.Context) ([]acd.SLDelta, error) {
	if g.down.Load() {
		return nil, g.unavailable("sl totals")
	}
	return g.Store.SLTotals(ctx)
}

// Agents implements acd.Store.
func (g *Guard) Agents(ctx context.Context) ([]acd.AgentRecord, error) {
	if g.down.Load() {
		return nil, g.unavailable("agents")
	}
	return g.Store.Agents(ctx)
}

// Calls implements acd.Store.
func (g *Guard) Calls(ctx context.Context, queue string) ([]acd.CallRecord, error) {
	if g.down.Load() {
		return nil, g.unavailable("calls")
	}
	return g.Store.Calls(ctx, queue)
}

// rejoin replays the counters: everything this node ever added when Redis
// came back empty (its epoch key changed), else what it missed.
func (g *Guard) rejoin(ctx context.Context) error {
	key := g.key("epoch")
	mine := make([]byte, 8)
	_, _ = rand.Read(mine)
	if _, err := g.rdb.SetNX(ctx, key, hex.EncodeToString(mine), 0).Result(); err != nil {
		return fmt.Errorf("redisstore: epoch: %w", err)
	}
	epoch, err := g.rdb.Get(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("redisstore: epoch: %w", err)
	}
	g.mu.Lock()
	replay := g.missed
	if g.epoch != "" && g.epoch != epoch {
		replay = g.total
	}
	g.epoch = epoch
	g.missed = map[[2]string]acd.SLDelta{}
	var ds []acd.SLDelta
	for _, d := range replay {
		ds = append(ds, d)
	}
	g.mu.Unlock()
	for _, d := range ds {
		if err := g.Store.AddSL(ctx, d); err != nil {
			g.mu.Lock()
			addDelta(g.missed, d)
			g.mu.Unlock()
			return err
		}
	}
	return nil
}
