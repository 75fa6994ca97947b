package redisstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// Direct node-to-node requests, for when Redis is away. The bus runs over
// Redis pub/sub, so an outage cuts the nodes off from each other; calls
// that crossed nodes before it go on, and when one ends the agent's node
// must still hear of it or the agent stays "talking" for the whole outage.
// Each node therefore advertises an HTTP address (its own HTTP server, path
// DirectPath) in Redis while Redis is up, and the nodes share a random key
// kept there; requests between nodes are signed with it (HMAC-SHA256 over
// the operation, sender, time and body; ±30 s). While degraded, every
// second, a node asks the nodes holding its agents' calls whether those
// calls are still up, and frees the agents whose calls ended.

// DirectPath is where a node serves direct requests (Link.DirectHandler).
const DirectPath = "/cluster/v1/"

// RemoteCalls is implemented by a Member whose agents may be on other
// nodes' calls (the ACD): the link polls those nodes while Redis is down.
type RemoteCalls interface {
	RemoteEngaged() []acd.RemoteCall
	HoldsCall(callID, agentID string) bool
	RemoteCallGone(agentID, callID, node string)
}

// directEvery is the poll while degraded: an agent whose call ended is free
// within about this long.
const directEvery = time.Second

// peers is what the link knows of the other nodes' direct addresses.
type peers struct {
	mu    sync.Mutex
	self  string            // this node's advertised address
	addrs map[string]string // node → address, from Redis
	key   []byte            // shared signing key, from Redis
	hc    *http.Client
}

// Advertise sets the address other nodes reach this node's DirectHandler
// at (host:port of its HTTP server). Call it before Run; "" disables
// direct requests to this node.
func (l *Link) Advertise(addr string) {
	l.peers.mu.Lock()
	l.peers.self = addr
	l.peers.mu.Unlock()
}

// sharePeers writes this node's address and reads the others' and the
// shared key (Redis is up). Run calls it every lease/3.
func (l *Link) sharePeers(ctx context.Context) error {
	l.peers.mu.Lock()
	self := l.peers.self
	l.peers.mu.Unlock()
	if self != "" {
		if err := l.s.rdb.HSet(ctx, l.s.key("peers"), l.s.node, self).Err(); err != nil {
			return fmt.Errorf("redisstore: advertise: %w", err)
		}
	}
	addrs, err := l.s.rdb.HGetAll(ctx, l.s.key("peers")).Result()
	if err != nil {
		return fmt.Errorf("redisstore: peers: %w", err)
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	if err := l.s.rdb.SetNX(ctx, l.s.key("peer-key"), hex.EncodeToString(fresh), 0).Err(); err != nil {
		return fmt.Errorf("redisstore: peer key: %w", err)
	}
	kh, err := l.s.rdb.Get(ctx, l.s.key("peer-key")).Result()
	if err != nil {
		return fmt.Errorf("redisstore: peer key: %w", err)
	}
	key, err := hex.DecodeString(kh)
	if err != nil || len(key) < 16 {
		return fmt.Errorf("redisstore: peer key is not a hex key")
	}
	l.peers.mu.Lock()
	l.peers.addrs, l.peers.key = addrs, key
	l.peers.mu.Unlock()
	return nil
}

// forgetPeer drops a reaped node's address.
func (l *Link) forgetPeer(ctx context.Context, node string) {
	_ = l.s.rdb.HDel(ctx, l.s.key("peers"), node).Err()
	l.peers.mu.Lock()
	delete(l.peers.addrs, node)
	l.peers.mu.Unlock()
}

func sign(key []byte, op, from, at string, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s\n%s\n%s\n", op, from, at)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrNoPeer: the node's direct address or the shared key is unknown.
var ErrNoPeer = errors.New("no direct address for node")

// Direct sends op to another node's DirectHandler without Redis and decodes
// its answer into reply (may be nil).
func (l *Link) Direct(ctx context.Context, node, op string, body, reply any) error {
	l.peers.mu.Lock()
	addr, key := l.peers.addrs[node], l.peers.key
	l.peers.mu.Unlock()
	if addr == "" || key == nil {
		return fmt.Errorf("cluster: %s on node %s: %w", op, node, ErrNoPeer)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("cluster: %s: encode: %w", op, err)
	}
	at := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+DirectPath+op, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("cluster: %s on node %s: %w", op, node, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hotline-Node", l.s.node)
	req.Header.Set("X-Hotline-Time", at)
	req.Header.Set("X-Hotline-Signature", sign(key, op, l.s.node, at, b))
	resp, err := l.peers.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cluster: %s on node %s: %w: %w", op, node, ErrNodeUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("cluster: %s on node %s: %w", op, node, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node %s: %s: %s: %s", node, op, resp.Status, bytes.TrimSpace(data))
	}
	if reply != nil {
		if err := json.Unmarshal(data, reply); err != nil {
			return fmt.Errorf("cluster: %s: decode reply: %w", op, err)
		}
	}
	return nil
}

// DirectHandler serves other nodes' direct requests (mount it at
// DirectPath): signed with the shared key, recent, then answered by the
// link itself (calls-up) or by h (the same handler as bus requests).
func (l *Link) DirectHandler(h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		op := r.URL.Path[len(DirectPath):]
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		from, at := r.Header.Get("X-Hotline-Node"), r.Header.Get("X-Hotline-Time")
		l.peers.mu.Lock()
		key := l.peers.key
		l.peers.mu.Unlock()
		ms, terr := strconv.ParseInt(at, 10, 64)
		if key == nil || terr != nil || from == "" ||
			!hmac.Equal([]byte(r.Header.Get("X-Hotline-Signature")), []byte(sign(key, op, from, at, body))) {
			http.Error(w, "not a node of this centre", http.StatusForbidden)
			return
		}
		if d := time.Since(time.UnixMilli(ms)); d > 30*time.Second || d < -30*time.Second {
			http.Error(w, "stale request", http.StatusForbidden)
			return
		}
		var reply any
		switch {
		case op == "calls-up":
			reply, err = l.callsUp(body)
		case h != nil:
			reply, err = h(r.Context(), op, body)
		default:
			err = fmt.Errorf("no handler for %s", op)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	})
}

// callsUp answers which of the asked calls this node still holds with
// their agent on them.
func (l *Link) callsUp(body []byte) (any, error) {
	var ask []acd.RemoteCall
	if err := json.Unmarshal(body, &ask); err != nil {
		return nil, fmt.Errorf("bad calls-up: %w", err)
	}
	l.mu.Lock()
	m := l.member
	l.mu.Unlock()
	rc, ok := m.(RemoteCalls)
	up := make([]bool, len(ask))
	for i, c := range ask {
		up[i] = ok && rc.HoldsCall(c.CallID, c.AgentID)
	}
	return up, nil
}

// watchRemote frees, while Redis is down, this node's agents whose calls
// on other nodes have ended: it asks those nodes directly every
// directEvery. A node that does not answer keeps its agents' calls (it may
// be cut off from this node only; its lease decides once Redis is back).
func (l *Link) watchRemote(ctx context.Context, m Member) {
	rc, ok := m.(RemoteCalls)
	if !ok {
		return
	}
	t := time.NewTicker(directEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !l.down.Load() {
			continue
		}
		byNode := map[string][]acd.RemoteCall{}
		for _, c := range rc.RemoteEngaged() {
			byNode[c.Node] = append(byNode[c.Node], c)
		}
		for node, calls := range byNode {
			var up []bool
			cctx, cancel := context.WithTimeout(ctx, directEvery)
			err := l.Direct(cctx, node, "calls-up", calls, &up)
			cancel()
			if err != nil || len(up) != len(calls) {
				l.log.Debug("cluster: direct check of calls failed", "node", node, "err", err)
				continue
			}
			for i, c := range calls {
				if !up[i] {
					rc.RemoteCallGone(c.AgentID, c.CallID, node)
				}
			}
		}
	}
}
