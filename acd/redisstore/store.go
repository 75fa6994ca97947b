package redisstore

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd"
)

// Defaults for Options.
const (
	DefaultPrefix   = "hotline:"
	DefaultLeaseTTL = 5 * time.Second
	DefaultTimeout  = time.Second
)

// ErrNodeAlive is returned by ReapNode when the node's lease is still held.
var ErrNodeAlive = errors.New("node lease still held")

// Options configures a Store.
type Options struct {
	// Addr is host:port, or a unix socket as "unix:/path" or "/path"; with
	// Sentinel, the sentinels' host:port list, comma-separated.
	Addr string
	// Sentinel, if set, is the primary's name in Redis Sentinel: the
	// client asks the sentinels for the current primary.
	Sentinel         string
	SentinelPassword string
	Password         string
	DB               int
	TLS              *tls.Config
	// Prefix starts every key; "" means DefaultPrefix. Use a hash tag
	// ("{hotline}:") on Redis Cluster.
	Prefix string
	// Node names this engine process in claims and leases; "" means
	// hostname-pid. Must be unique among the nodes sharing the Redis.
	Node string
	// LeaseTTL is how long a node may be silent before it counts as dead;
	// 0 means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// OnLeaseLost, if set, is called from RunLease when a renewal finds that
	// this node's lease had lapsed (Redis was unreachable or the node stalled
	// for longer than LeaseTTL): its claims, calls and agents may have been
	// reaped and must be written again. It must not block.
	OnLeaseLost func()
	// Timeout bounds dialling, reading and writing one command; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// nodeName is the configured node name, or hostname-pid.
func nodeName(configured string) string {
	if configured != "" {
		return configured
	}
	host, err := os.Hostname()
	if err != nil {
		host = "node"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// newClient connects to one Redis, or through Sentinel to the current
// primary of opts.Sentinel (Addr then lists the sentinels, comma-separated):
// after a failover the client finds the new primary by itself.
func newClient(opts Options, timeout time.Duration) *redis.Client {
	if opts.Sentinel != "" {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            opts.Sentinel,
			SentinelAddrs:         strings.Split(opts.Addr, ","),
			SentinelPassword:      opts.SentinelPassword,
			Password:              opts.Password,
			DB:                    opts.DB,
			TLSConfig:             opts.TLS,
			MaxRetries:            1,
			DialTimeout:           timeout,
			ReadTimeout:           timeout,
			WriteTimeout:          timeout,
			PoolTimeout:           2 * timeout,
			ContextTimeoutEnabled: true,
		})
	}
	network, addr := "tcp", opts.Addr
	if a, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", a
	} else if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	return redis.NewClient(&redis.Options{
		Network:   network,
		Addr:      addr,
		Password:  opts.Password,
		DB:        opts.DB,
		TLSConfig: opts.TLS,
		// One quick retry at most: when Redis is gone the ACD must hear
		// about it within a couple of timeouts, not after a backoff series.
		MaxRetries:            1,
		DialerRetries:         1,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           2 * timeout,
		ContextTimeoutEnabled: true,
	})
}

// Store is an acd.Store kept in Redis, shared by every node using the same
// address and prefix.
type Store struct {
	rdb     *redis.Client
	prefix  string
	node    string
	ttl     time.Duration
	timeout time.Duration
	onLost  func()
}

var _ acd.Store = (*Store)(nil)

// New returns a Store for opts. It does not contact Redis; use Ping to check
// the connection.
func New(opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, errors.New("redisstore: no address")
	}
	if opts.LeaseTTL < 0 || opts.Timeout < 0 {
		return nil, errors.New("redisstore: negative lease TTL or timeout")
	}
	node := nodeName(opts.Node)
	prefix := cmp.Or(opts.Prefix, DefaultPrefix)
	timeout := cmp.Or(opts.Timeout, DefaultTimeout)
	rdb := newClient(opts, timeout)
	return &Store{rdb: rdb, prefix: prefix, node: node, ttl: cmp.Or(opts.LeaseTTL, DefaultLeaseTTL), timeout: timeout, onLost: opts.OnLeaseLost}, nil
}

// Client is the store's Redis client, for other users of the same Redis
// (the call-record stream).
func (s *Store) Client() *redis.Client { return s.rdb }

// Prefix is the store's key prefix.
func (s *Store) Prefix() string { return s.prefix }

// Node is this store's node name.
func (s *Store) Node() string { return s.node }

// Close closes the connections to Redis.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

func (s *Store) key(parts ...string) string { return s.prefix + strings.Join(parts, ":") }

// SaveAgent implements acd.Store.
func (s *Store) SaveAgent(ctx context.Context, r acd.AgentRecord) error {
	return s.tx(ctx, "save agent "+r.Profile.ID, func(p redis.Pipeliner) error { return s.saveAgent(ctx, p, r) })
}

// tx runs queued commands in one MULTI/EXEC round trip.
func (s *Store) tx(ctx context.Context, what string, queue func(redis.Pipeliner) error) error {
	if _, err := s.rdb.TxPipelined(ctx, queue); err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	return nil
}

// The write methods below queue their commands on a pipeline, so that a
// node's writes can go out in batches (see Guard) as well as one by one.

func (s *Store) saveAgent(ctx context.Context, p redis.Pipeliner, r acd.AgentRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redisstore: save agent %s: %w", r.Profile.ID, err)
	}
	p.HSet(ctx, s.key("agents"), r.Profile.ID, b)
	p.HSet(ctx, s.key("agentnode"), r.Profile.ID, s.node)
	p.SAdd(ctx, s.key("nodes"), s.node)
	return nil
}

// DeleteAgent implements acd.Store.
func (s *Store) DeleteAgent(ctx context.Context, id string) error {
	return s.tx(ctx, "delete agent "+id, func(p redis.Pipeliner) error { return s.deleteAgent(ctx, p, id) })
}

func (s *Store) deleteAgent(ctx context.Context, p redis.Pipeliner, id string) error {
	p.HDel(ctx, s.key("agents"), id)
	p.HDel(ctx, s.key("agentnode"), id)
	return nil
}

// Agents implements acd.Store.
func (s *Store) Agents(ctx context.Context) ([]acd.AgentRecord, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("agents")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: agents: %w", err)
	}
	out := make([]acd.AgentRecord, 0, len(m))
	for id, v := range m {
		var r acd.AgentRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("redisstore: agents: decode %s: %w", id, err)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b acd.AgentRecord) int { return strings.Compare(a.Profile.ID, b.Profile.ID) })
	return out, nil
}

// saveCall moves the call between queue indexes when its queue changed and
// records which node saved it, all at once so that a reaper never sees half.
var saveCall = redis.NewScript(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old ~= ARGV[3] then redis.call('ZREM', ARGV[6] .. 'queue:' .. old, ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[5])
return 0
`)

var deleteCall = redis.NewScript(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then redis.call('ZREM', ARGV[2] .. 'queue:' .. old, ARGV[1]) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 0
`)

// SaveCall implements acd.Store.
func (s *Store) SaveCall(ctx context.Context, r acd.CallRecord) error {
	return s.tx(ctx, "save call "+r.Call.ID, func(p redis.Pipeliner) error { return s.saveCall(ctx, p, r) })
}

func (s *Store) saveCall(ctx context.Context, p redis.Pipeliner, r acd.CallRecord) error {
	if r.Call.ID == "" {
		return errors.New("redisstore: save call: empty call ID")
	}
	b, err := json.Marshal(r)
	if err != nil && r.Call.Trace != nil {
		// The trace is opaque to the ACD and only decorates the desktop:
		// losing it on other nodes beats losing the call.
		slog.Warn("redisstore: call trace not encodable, stored without it", "call", r.Call.ID, "err", err)
		r.Call.Trace = nil
		b, err = json.Marshal(r)
	}
	if err != nil {
		return fmt.Errorf("redisstore: save call %s: %w", r.Call.ID, err)
	}
	keys := []string{s.key("calls"), s.key("callq"), s.key("callnode"), s.key("queue", r.Call.Queue), s.key("nodes")}
	score := strconv.FormatInt(r.Call.EnqueuedAt.UnixMicro(), 10)
	// EVAL, not EVALSHA: inside MULTI a missing script cannot fall back.
	saveCall.Eval(ctx, p, keys, r.Call.ID, b, r.Call.Queue, score, s.node, s.prefix)
	return nil
}

// DeleteCall implements acd.Store.
func (s *Store) DeleteCall(ctx context.Context, id string) error {
	return s.tx(ctx, "delete call "+id, func(p redis.Pipeliner) error { return s.deleteCall(ctx, p, id) })
}

func (s *Store) deleteCall(ctx context.Context, p redis.Pipeliner, id string) error {
	keys := []string{s.key("calls"), s.key("callq"), s.key("callnode")}
	deleteCall.Eval(ctx, p, keys, id, s.prefix)
	return nil
}

// Calls implements acd.Store.
func (s *Store) Calls(ctx context.Context, queue string) ([]acd.CallRecord, error) {
	var raw []string
	if queue == "" {
		m, err := s.rdb.HGetAll(ctx, s.key("calls")).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: calls: %w", err)
		}
		for _, v := range m {
			raw = append(raw, v)
		}
	} else {
		ids, err := s.rdb.ZRange(ctx, s.key("queue", queue), 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: calls of %s: %w", queue, err)
		}
		if len(ids) > 0 {
			vals, err := s.rdb.HMGet(ctx, s.key("calls"), ids...).Result()
			if err != nil {
				return nil, fmt.Errorf("redisstore: calls of %s: %w", queue, err)
			}
			for _, v := range vals {
				// nil: deleted between the two reads.
				if str, ok := v.(string); ok {
					raw = append(raw, str)
				}
			}
		}
	}
	out := make([]acd.CallRecord, 0, len(raw))
	for _, v := range raw {
		var r acd.CallRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("redisstore: calls: decode: %w", err)
		}
		out = append(out, r)
	}
	// The zset score is microseconds; the exact order comes from the
	// records, ties broken by ID so every node sees the same queue.
	slices.SortFunc(out, func(a, b acd.CallRecord) int {
		return cmp.Or(a.Call.EnqueuedAt.Compare(b.Call.EnqueuedAt), strings.Compare(a.Call.ID, b.Call.ID))
	})
	return out, nil
}

// claim sets both claim keys only if neither exists, and indexes the claim
// under the claiming node for the reaper.
var claim = redis.NewScript(`
local holder = redis.call('HGET', KEYS[1], 'agent')
if holder then return {1, holder} end
local held = redis.call('GET', KEYS[2])
if held then return {2, held} end
redis.call('HSET', KEYS[1], 'agent', ARGV[2], 'node', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
return {0, ''}
`)

// release deletes each side only while it still names the other side.
var release = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'agent') == ARGV[2] then
  local node = redis.call('HGET', KEYS[1], 'node')
  redis.call('DEL', KEYS[1])
  if node then redis.call('HDEL', ARGV[3] .. 'node:' .. node .. ':claims', ARGV[1]) end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 0
`)

// Claim implements acd.Store.
func (s *Store) Claim(ctx context.Context, callID, agentID string) error {
	if callID == "" || agentID == "" {
		return fmt.Errorf("redisstore: claim call %q for agent %q: empty ID", callID, agentID)
	}
	keys := []string{s.key("claim", "call", callID), s.key("claim", "agent", agentID), s.key("node", s.node, "claims"), s.key("nodes")}
	res, err := claim.Run(ctx, s.rdb, keys, callID, agentID, s.node).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: claim call %s for agent %s: %w", callID, agentID, err)
	}
	if len(res) != 2 {
		return fmt.Errorf("redisstore: claim call %s for agent %s: unexpected reply %v", callID, agentID, res)
	}
	code, _ := res[0].(int64)
	other, _ := res[1].(string)
	switch code {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("redisstore: claim call %s for %s: held by agent %s: %w", callID, agentID, other, acd.ErrCallTaken)
	case 2:
		return fmt.Errorf("redisstore: claim agent %s for %s: holds call %s: %w", agentID, callID, other, acd.ErrAgentTaken)
	}
	return fmt.Errorf("redisstore: claim call %s for agent %s: unexpected reply %v", callID, agentID, res)
}

// Release implements acd.Store.
func (s *Store) Release(ctx context.Context, callID, agentID string) error {
	keys := []string{s.key("claim", "call", callID), s.key("claim", "agent", agentID)}
	if err := release.Run(ctx, s.rdb, keys, callID, agentID, s.prefix).Err(); err != nil {
		return fmt.Errorf("redisstore: release call %s from agent %s: %w", callID, agentID, err)
	}
	return nil
}

const slSep = "\x1f"

var slCounters = []string{"offered", "answered", "within", "abandoned", "overflowed"}

func slValues(d *acd.SLDelta) []*int {
	return []*int{&d.Offered, &d.Answered, &d.AnsweredWithin, &d.Abandoned, &d.Overflowed}
}

// AddSL implements acd.Store.
func (s *Store) AddSL(ctx context.Context, d acd.SLDelta) error {
	return s.tx(ctx, "add SL "+d.Queue+"/"+d.Tier, func(p redis.Pipeliner) error { return s.addSL(ctx, p, d) })
}

func (s *Store) addSL(ctx context.Context, p redis.Pipeliner, d acd.SLDelta) error {
	if strings.Contains(d.Queue, slSep) || strings.Contains(d.Tier, slSep) {
		return fmt.Errorf("redisstore: add SL %q/%q: control character in name", d.Queue, d.Tier)
	}
	vals := slValues(&d)
	for i, c := range slCounters {
		p.HIncrBy(ctx, s.key("sl"), d.Queue+slSep+d.Tier+slSep+c, int64(*vals[i]))
	}
	return nil
}

// SLTotals implements acd.Store.
func (s *Store) SLTotals(ctx context.Context) ([]acd.SLDelta, error) {
	m, err := s.rdb.HGetAll(ctx, s.key("sl")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: SL totals: %w", err)
	}
	byKey := map[[2]string]*acd.SLDelta{}
	for f, v := range m {
		parts := strings.Split(f, slSep)
		if len(parts) != 3 {
			return nil, fmt.Errorf("redisstore: SL totals: bad field %q", f)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: SL totals: field %q: %w", f, err)
		}
		k := [2]string{parts[0], parts[1]}
		d := byKey[k]
		if d == nil {
			d = &acd.SLDelta{Queue: k[0], Tier: k[1]}
			byKey[k] = d
		}
		if i := slices.Index(slCounters, parts[2]); i >= 0 {
			*slValues(d)[i] = n
		}
	}
	out := make([]acd.SLDelta, 0, len(byKey))
	for _, d := range byKey {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b acd.SLDelta) int {
		return cmp.Or(strings.Compare(a.Queue, b.Queue), strings.Compare(a.Tier, b.Tier))
	})
	return out, nil
}
