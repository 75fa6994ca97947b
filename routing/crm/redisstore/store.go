package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/routing/crm"
)

// Defaults for Options.
const (
	DefaultPrefix  = "hotline:crm:"
	DefaultTimeout = 100 * time.Millisecond
)

const (
	// replaceBatch is how many customers one pipelined round trip of a
	// reload carries (one HSET per bucket touched): big enough that
	// 1,000,000 customers take about 120 round trips, small enough that a
	// batch never holds Redis for more than a few milliseconds.
	replaceBatch = 8192
	// buildTTL is how long a reload may take before the next reload (on
	// any node) gives it up as abandoned and drops what it wrote.
	buildTTL = time.Hour
	// minBulkTimeout bounds one reload batch or the final switch.
	minBulkTimeout = 5 * time.Second
)

// Options configures the connection to Redis.
type Options struct {
	// Addr is host:port, or a unix socket path starting with "/"; with
	// Sentinel, the sentinels' host:port list, comma-separated.
	Addr string
	// Sentinel, if set, is the primary's name in Redis Sentinel.
	Sentinel         string
	SentinelPassword string
	Password         string
	DB               int
	// TLS, when set, is used for the connection (e.g. a managed Redis).
	TLS *tls.Config
	// Prefix starts every key (default DefaultPrefix), so one Redis can
	// hold several deployments.
	Prefix string
	// Timeout bounds each Get, Put, Delete and Len, connecting included
	// (default DefaultTimeout). A lookup is on the call path: it must fail
	// fast rather than hold a caller.
	Timeout time.Duration
	// Logger receives warnings that do not fail a call (default
	// slog.Default()).
	Logger *slog.Logger
}

// Store is a crm.Store kept in Redis. It is safe for concurrent use.
type Store struct {
	rdb       *redis.Client
	timeout   time.Duration
	bulk      time.Duration
	current   string // key holding the live generation number
	seq       string // key handing out generation numbers
	building  string // sorted set: generations being built, by start time
	genPrefix string // generation n lives at genPrefix+n
	log       *slog.Logger
}

var _ crm.Store = (*Store)(nil)

// New returns a store talking to the Redis at o.Addr. It does not connect:
// the first command does, so an engine starts even while Redis is down and
// lookups fail fast (and degrade to the default tier) until it is back.
func New(o Options) (*Store, error) {
	if o.Addr == "" {
		return nil, errors.New("redisstore: no address")
	}
	if o.Timeout < 0 || o.DB < 0 {
		return nil, fmt.Errorf("redisstore: negative timeout %v or db %d", o.Timeout, o.DB)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	bulk := max(20*o.Timeout, minBulkTimeout)
	if o.Sentinel != "" {
		// A failover moves the primary; the client follows the sentinels.
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: o.Sentinel, SentinelAddrs: strings.Split(o.Addr, ","), SentinelPassword: o.SentinelPassword,
			Password: o.Password, DB: o.DB, TLSConfig: o.TLS, ContextTimeoutEnabled: true,
			DialTimeout: o.Timeout, ReadTimeout: bulk, WriteTimeout: bulk, PoolTimeout: o.Timeout,
			MaxRetries: 1, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 10 * time.Millisecond, DisableIdentity: true,
		})
		return newStore(rdb, o, bulk), nil
	}
	network := "tcp"
	if o.Addr[0] == '/' {
		network = "unix"
	}
	rdb := redis.NewClient(&redis.Options{
		Network:   network,
		Addr:      o.Addr,
		Password:  o.Password,
		DB:        o.DB,
		TLSConfig: o.TLS,
		// Socket deadlines come from each call's context (Timeout for
		// lookups, bulk for reload batches); these are the outer bounds.
		ContextTimeoutEnabled: true,
		DialTimeout:           o.Timeout,
		// One dial attempt: with Redis down, the caller learns why at once
		// rather than after go-redis's retries used up its deadline.
		DialerRetries: 1,
		ReadTimeout:   bulk,
		WriteTimeout:  bulk,
		PoolTimeout:   o.Timeout,
		// One retry covers a pooled connection Redis closed (restart,
		// idle timeout); more would only burn the caller's deadline.
		MaxRetries:      1,
		MinRetryBackoff: time.Millisecond,
		MaxRetryBackoff: 10 * time.Millisecond,
		DisableIdentity: true,
	})
	return newStore(rdb, o, bulk), nil
}

func newStore(rdb *redis.Client, o Options, bulk time.Duration) *Store {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p := o.Prefix + "{customers}:"
	return &Store{
		rdb:       rdb,
		timeout:   o.Timeout,
		bulk:      bulk,
		current:   p + "current",
		seq:       p + "seq",
		building:  p + "building",
		genPrefix: p + "gen:",
		log:       o.Logger,
	}
}

// Close closes the connections to Redis.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Ping checks that Redis answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opContext(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// opContext bounds one short command by d and the caller's deadline. It
// deliberately drops the caller's cancellation, keeping only its deadline:
// the command finishes within d anyway, and go-redis closes a connection
// whose reply was abandoned, so honouring a hang-up mid-lookup would only
// churn the pool.
func (s *Store) opContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(deadline) {
		deadline = cd
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// Lookups and writes read the live generation and act on it in one script,
// so that they never straddle a reload's switch. ARGV[1] is the generation
// key prefix; a generation's keys are <prefix><gen>:<bucket> and its
// customer count <prefix><gen>:n.
var (
	getScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('HGET', ARGV[1] .. g .. ':' .. ARGV[2], ARGV[3])`)
	putScript = redis.NewScript(`
local p = ARGV[1] .. (redis.call('GET', KEYS[1]) or '0') .. ':'
local added = redis.call('HSET', p .. ARGV[2], ARGV[3], ARGV[4])
if added == 1 then redis.call('INCR', p .. 'n') end
return added`)
	deleteScript = redis.NewScript(`
local p = ARGV[1] .. (redis.call('GET', KEYS[1]) or '0') .. ':'
local gone = redis.call('HDEL', p .. ARGV[2], ARGV[3])
if gone == 1 then redis.call('DECR', p .. 'n') end
return gone`)
	lenScript = redis.NewScript(`
local p = ARGV[1] .. (redis.call('GET', KEYS[1]) or '0') .. ':'
return tonumber(redis.call('GET', p .. 'n') or '0')`)
	// switchScript makes generation ARGV[2], holding ARGV[3] customers,
	// live and returns the generation it replaced ("0" if none). It fails if
	// another node's sweep gave the generation up as abandoned. O(1), so a
	// reload never holds Redis up.
	switchScript = redis.NewScript(`
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then
  return redis.error_reply('generation ' .. ARGV[2] .. ' was given up as abandoned')
end
redis.call('SET', ARGV[1] .. ARGV[2] .. ':n', ARGV[3])
local old = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], ARGV[2])
return old`)
	// dropScript removes buckets ARGV[3] to ARGV[4] of generation ARGV[2]
	// (and its count when ARGV[5] is "1") unless that generation is live: a
	// failed reload whose switch did run (only its reply was lost) must not
	// take the new live set with it. Generations are never reused, so one
	// that is not live now never will be again.
	dropScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
if g == ARGV[2] then return 0 end
local p = ARGV[1] .. ARGV[2] .. ':'
local n = 0
for b = tonumber(ARGV[3]), tonumber(ARGV[4]) do n = n + redis.call('UNLINK', p .. b) end
if ARGV[5] == '1' then redis.call('UNLINK', p .. 'n') end
return n`)
)

// buckets is how many hashes one generation spreads its customers over.
// Redis keeps a hash of up to 128 short entries (hash-max-listpack-entries,
// hash-max-listpack-value 64) as a flat listpack at about half the memory
// of a hashtable; 16384 buckets keep 1,000,000 customers at about 61 per
// bucket, comfortably below 128 whatever the spread.
const buckets = 16384

// dropChunk is how many buckets one drop script unlinks, so that dropping a
// generation never holds Redis for long.
const dropChunk = 512

// bucketOf spreads numbers over buckets with FNV-1a: it must give the same
// answer on every node and every version.
func bucketOf(number string) int {
	h := uint32(2166136261)
	for i := 0; i < len(number); i++ {
		h ^= uint32(number[i])
		h *= 16777619
	}
	return int(h % buckets)
}

// sweep drops generations whose reload started more than buildTTL ago and
// never switched: their node died or lost Redis mid-reload. Failures only
// cost memory until the next reload, so they are logged, not returned.
func (s *Store) sweep(ctx context.Context) {
	ctx, cancel := s.opContext(ctx, s.bulk)
	defer cancel()
	cutoff := strconv.FormatInt(time.Now().Add(-buildTTL).Unix(), 10)
	stale, err := s.rdb.ZRangeByScore(ctx, s.building, &redis.ZRangeBy{Min: "-inf", Max: cutoff}).Result()
	if err != nil {
		s.log.Warn("crm reload could not look for abandoned reloads", "err", err)
		return
	}
	for _, gen := range stale {
		// Only the node whose ZREM succeeds drops it; the builder, if it
		// is merely slow, then fails its switch.
		if n, err := s.rdb.ZRem(ctx, s.building, gen).Result(); err != nil || n == 0 {
			continue
		}
		if err := s.dropGeneration(ctx, gen); err != nil {
			s.log.Warn("crm reload could not drop an abandoned reload", "generation", gen, "err", err)
		}
	}
}

// dropGeneration unlinks generation gen unless it is live. UNLINK hands big
// hashes to Redis's lazy-free thread, and the chunks go in one pipeline.
func (s *Store) dropGeneration(ctx context.Context, gen string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for from := 0; from < buckets; from += dropChunk {
			last := "0"
			if from+dropChunk >= buckets {
				last = "1"
			}
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			dropScript.Eval(ctx, p, []string{s.current}, s.genPrefix, gen, from, min(from+dropChunk, buckets)-1, last)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: drop generation %s: %w", gen, err)
	}
	return nil
}

// Get implements crm.Store.
func (s *Store) Get(ctx context.Context, number string) (crm.Customer, error) {
	if err := canonical(number); err != nil {
		return crm.Customer{}, err
	}
	ctx, cancel := s.opContext(ctx, s.timeout)
	defer cancel()
	b, err := getScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix, bucketOf(number), number).Text()
	if errors.Is(err, redis.Nil) {
		return crm.Customer{}, crm.ErrNotFound
	}
	if err != nil {
		return crm.Customer{}, fmt.Errorf("redisstore: get %s: %w", number, err)
	}
	return decodeRecord(number, []byte(b))
}

// Put implements crm.Store.
func (s *Store) Put(ctx context.Context, c crm.Customer) error {
	rec, err := encodeRecord(c)
	if err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	ctx, cancel := s.opContext(ctx, s.timeout)
	defer cancel()
	if err := putScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix, bucketOf(c.Number), c.Number, rec).Err(); err != nil {
		return fmt.Errorf("redisstore: put %s: %w", c.Number, err)
	}
	return nil
}

// Delete implements crm.Store.
func (s *Store) Delete(ctx context.Context, number string) error {
	if err := canonical(number); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	ctx, cancel := s.opContext(ctx, s.timeout)
	defer cancel()
	n, err := deleteScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix, bucketOf(number), number).Int()
	if err != nil {
		return fmt.Errorf("redisstore: delete %s: %w", number, err)
	}
	if n == 0 {
		return crm.ErrNotFound
	}
	return nil
}

// Len implements crm.Store.
func (s *Store) Len(ctx context.Context) (int, error) {
	ctx, cancel := s.opContext(ctx, s.timeout)
	defer cancel()
	n, err := lenScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: len: %w", err)
	}
	return n, nil
}

// Replace implements crm.Store; see the package comment for how the switch
// stays atomic. Customers Put before the first Replace live in generation 0,
// which the first Replace drops like any other. Unlike the short calls,
// Replace honours ctx cancellation between and during batches.
func (s *Store) Replace(ctx context.Context, all iter.Seq2[crm.Customer, error]) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: replace: %w", err)
	}
	gctx, cancel := context.WithTimeout(ctx, s.timeout)
	gen, err := s.rdb.Incr(gctx, s.seq).Result()
	cancel()
	if err != nil {
		return fmt.Errorf("redisstore: replace: new generation: %w", err)
	}
	genID := strconv.FormatInt(gen, 10)
	key := s.genPrefix + genID + ":"
	gctx, cancel = context.WithTimeout(ctx, s.timeout)
	err = s.rdb.ZAdd(gctx, s.building, redis.Z{Score: float64(time.Now().Unix()), Member: genID}).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("redisstore: replace: register generation %s: %w", genID, err)
	}
	defer func() {
		if err != nil {
			// Drop the half-built set even if ctx is done; if Redis is
			// gone too, the next reload's sweep will.
			dctx, cancel := s.opContext(ctx, s.bulk)
			defer cancel()
			s.rdb.ZRem(dctx, s.building, genID)
			if derr := s.dropGeneration(dctx, genID); derr != nil {
				s.log.Warn("crm reload failed and its half-built generation stays in Redis until the next reload",
					"generation", genID, "err", derr)
			}
		}
	}()
	s.sweep(ctx)

	var (
		added   int64 // distinct numbers written: HSET counts new fields only
		pending int
		byB     = make(map[int][]any)
		hsets   []*redis.IntCmd
	)
	flush := func() error {
		if pending == 0 {
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, s.bulk)
		defer cancel()
		hsets = hsets[:0]
		_, err := s.rdb.Pipelined(bctx, func(p redis.Pipeliner) error {
			for b, fields := range byB {
				bk := key + strconv.Itoa(b)
				hsets = append(hsets, p.HSet(bctx, bk, fields...))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstore: replace: write generation %s: %w", genID, err)
		}
		for _, h := range hsets {
			added += h.Val()
		}
		clear(byB)
		pending = 0
		return nil
	}
	for c, err := range all {
		if err != nil {
			return fmt.Errorf("redisstore: replace: %w", err)
		}
		rec, err := encodeRecord(c)
		if err != nil {
			return fmt.Errorf("redisstore: replace: %w", err)
		}
		b := bucketOf(c.Number)
		byB[b] = append(byB[b], c.Number, rec)
		if pending++; pending == replaceBatch {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("redisstore: replace: %w", err)
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: replace: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}

	sctx, cancel := context.WithTimeout(ctx, s.bulk)
	defer cancel()
	old, err := switchScript.Run(sctx, s.rdb, []string{s.current, s.building}, s.genPrefix, genID, added).Text()
	if err != nil {
		return fmt.Errorf("redisstore: replace: switch to generation %s: %w", genID, err)
	}
	if old != genID {
		// Failing to drop it wastes memory but the reload itself succeeded.
		if uerr := s.dropGeneration(sctx, old); uerr != nil {
			s.log.Warn("crm reload switched but the old generation stays in Redis",
				"generation", genID, "old", old, "err", uerr)
		}
	}
	return nil
}
