package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// renew sets the lease and reports whether the previous one was still there.
var renew = redis.NewScript(`
local old = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'GET')
redis.call('SADD', KEYS[2], ARGV[3])
if old then return 1 end
return 0
`)

// Renew sets this node's lease for one LeaseTTL and reports whether the
// previous lease was still held (false on the first renewal, or when it had
// lapsed). RunLease calls it; it is exported for a node that drives its own
// loop.
func (s *Store) Renew(ctx context.Context) (held bool, err error) {
	keys := []string{s.key("lease", s.node), s.key("nodes")}
	n, err := renew.Run(ctx, s.rdb, keys, time.Now().UTC().Format(time.RFC3339Nano), s.ttl.Milliseconds(), s.node).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: renew lease of %s: %w", s.node, err)
	}
	return n == 1, nil
}

// RunLease renews this node's lease every third of LeaseTTL until ctx ends,
// then returns ctx's error. A failed renewal is logged and retried on the
// next tick: two misses in a row still leave the lease alive. When a renewal
// finds that the lease it held has lapsed, other nodes may have reaped this
// node's claims, so RunLease logs it and calls Options.OnLeaseLost.
func (s *Store) RunLease(ctx context.Context) error {
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	had := false
	for {
		held, err := s.Renew(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				slog.Warn("redisstore: lease renewal failed", "node", s.node, "err", err)
			}
		case had && !held:
			slog.Warn("redisstore: lease had lapsed; claims may have been reaped", "node", s.node)
			if s.onLost != nil {
				s.onLost()
			}
			fallthrough
		default:
			had = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Expired lists, sorted, the nodes known to the store whose lease has
// lapsed (including this node if its own lease lapsed).
func (s *Store) Expired(ctx context.Context) ([]string, error) {
	nodes, err := s.rdb.SMembers(ctx, s.key("nodes")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: expired nodes: %w", err)
	}
	cmds := make([]*redis.IntCmd, len(nodes))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range nodes {
			cmds[i] = p.Exists(ctx, s.key("lease", n))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: expired nodes: %w", err)
	}
	var dead []string
	for i, n := range nodes {
		if cmds[i].Val() == 0 {
			dead = append(dead, n)
		}
	}
	slices.Sort(dead)
	return dead, nil
}

// Reaped is what ReapNode removed for one dead node.
type Reaped struct {
	Node string
	// Claims are the released call→agent claims, as [call, agent] pairs.
	Claims [][2]string
	// Calls and Agents are the records the node last saved, now deleted.
	Calls, Agents []string
}

// reap runs only while the node's lease is absent, so a node that renewed
// in the meantime keeps everything.
var reap = redis.NewScript(`
if ARGV[3] ~= 'own' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local node, p = ARGV[1], ARGV[2]
local released, calls, agents = {}, {}, {}
local claims = redis.call('HGETALL', KEYS[2])
for i = 1, #claims, 2 do
  local c, a = claims[i], claims[i+1]
  local ck = p .. 'claim:call:' .. c
  if redis.call('HGET', ck, 'agent') == a and redis.call('HGET', ck, 'node') == node then redis.call('DEL', ck) end
  local ak = p .. 'claim:agent:' .. a
  if redis.call('GET', ak) == c then redis.call('DEL', ak) end
  table.insert(released, c)
  table.insert(released, a)
end
redis.call('DEL', KEYS[2])
local cn = redis.call('HGETALL', KEYS[4])
for i = 1, #cn, 2 do
  if cn[i+1] == node then
    local id = cn[i]
    local q = redis.call('HGET', p .. 'callq', id)
    if q then redis.call('ZREM', p .. 'queue:' .. q, id) end
    redis.call('HDEL', p .. 'calls', id)
    redis.call('HDEL', p .. 'callq', id)
    redis.call('HDEL', KEYS[4], id)
    table.insert(calls, id)
  end
end
local an = redis.call('HGETALL', KEYS[5])
for i = 1, #an, 2 do
  if an[i+1] == node then
    redis.call('HDEL', p .. 'agents', an[i])
    redis.call('HDEL', KEYS[5], an[i])
    table.insert(agents, an[i])
  end
end
redis.call('SREM', KEYS[3], node)
return {released, calls, agents}
`)

// ReapNode releases the claims of a node whose lease has lapsed and deletes
// the calls and agents it last saved; ErrNodeAlive if its lease is held.
func (s *Store) ReapNode(ctx context.Context, node string) (Reaped, error) {
	return s.reapNode(ctx, node, "")
}

// ResetOwn clears what an earlier process under this node's name left in
// Redis — claims, calls, agents — whether or not its lease is still held.
// A node restarted under a fixed name (HOTLINE_NODE) calls it once before
// joining: its predecessor's calls died with it, and its lease may not
// have lapsed yet, so no reaper would free its agents.
func (s *Store) ResetOwn(ctx context.Context) (Reaped, error) {
	return s.reapNode(ctx, s.node, "own")
}

func (s *Store) reapNode(ctx context.Context, node, mode string) (Reaped, error) {
	keys := []string{s.key("lease", node), s.key("node", node, "claims"), s.key("nodes"), s.key("callnode"), s.key("agentnode")}
	res, err := reap.Run(ctx, s.rdb, keys, node, s.prefix, mode).Result()
	if err != nil {
		return Reaped{}, fmt.Errorf("redisstore: reap node %s: %w", node, err)
	}
	if n, ok := res.(int64); ok && n == -1 {
		return Reaped{}, fmt.Errorf("redisstore: reap node %s: %w", node, ErrNodeAlive)
	}
	parts, ok := res.([]any)
	if !ok || len(parts) != 3 {
		return Reaped{}, fmt.Errorf("redisstore: reap node %s: unexpected reply %v", node, res)
	}
	r := Reaped{Node: node}
	pairs := strs(parts[0])
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Claims = append(r.Claims, [2]string{pairs[i], pairs[i+1]})
	}
	r.Calls, r.Agents = strs(parts[1]), strs(parts[2])
	return r, nil
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Reap reaps every expired node other than this one (a node never reaps
// itself: its lease lapsing means it lost Redis, not that it died).
func (s *Store) Reap(ctx context.Context) ([]Reaped, error) {
	dead, err := s.Expired(ctx)
	if err != nil {
		return nil, err
	}
	var out []Reaped
	for _, n := range dead {
		if n == s.node {
			continue
		}
		r, err := s.ReapNode(ctx, n)
		if errors.Is(err, ErrNodeAlive) {
			continue // renewed since Expired looked
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RunReaper reaps dead nodes every interval (LeaseTTL/3 if 0) until ctx ends,
// passing each reaped node to onReap (may be nil), and returns ctx's error.
func (s *Store) RunReaper(ctx context.Context, interval time.Duration, onReap func(Reaped)) error {
	if interval <= 0 {
		interval = s.ttl / 3
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		rs, err := s.Reap(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("redisstore: reaping dead nodes failed", "node", s.node, "err", err)
		}
		for _, r := range rs {
			slog.Info("redisstore: reaped dead node", "node", r.Node, "claims", len(r.Claims), "calls", len(r.Calls), "agents", len(r.Agents))
			if onReap != nil {
				onReap(r)
			}
		}
	}
}
