package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
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
	// replaceBatch is how many customers one HSET of a reload carries: big
	// enough that 1,000,000 customers take 1,000 round trips, small enough
	// that one command never blocks Redis for long.
	replaceBatch = 1000
	// buildTTL is how long a half-built generation outlives the node
	// building it; refreshed on every batch.
	buildTTL = time.Hour
	// minBulkTimeout bounds one reload batch or the final switch.
	minBulkTimeout = 5 * time.Second
)

// Options configures the connection to Redis.
type Options struct {
	// Addr is host:port, or a unix socket path starting with "/".
	Addr     string
	Password string
	DB       int
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
		genPrefix: p + "gen:",
		log:       o.Logger,
	}, nil
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
// so that they never straddle a reload's switch.
var (
	getScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('HGET', ARGV[1] .. g, ARGV[2])`)
	putScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('HSET', ARGV[1] .. g, ARGV[2], ARGV[3])`)
	deleteScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('HDEL', ARGV[1] .. g, ARGV[2])`)
	lenScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('HLEN', ARGV[1] .. g)`)
	// switchScript makes generation ARGV[2] live if it holds ARGV[3]
	// customers, and returns the generation it replaced ("0" if none). The
	// count check catches a build key that expired or was deleted under a
	// stalled reload.
	switchScript = redis.NewScript(`
local key = ARGV[1] .. ARGV[2]
local n = redis.call('HLEN', key)
if n ~= tonumber(ARGV[3]) then
  return redis.error_reply('generation ' .. ARGV[2] .. ' holds ' .. n .. ' customers, want ' .. ARGV[3])
end
redis.call('PERSIST', key)
local old = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], ARGV[2])
return old`)
	// dropScript removes a generation unless it is live: a failed reload
	// whose switch did run (only its reply was lost) must not take the new
	// live set with it.
	dropScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
if g == ARGV[2] then return 0 end
return redis.call('UNLINK', ARGV[1] .. ARGV[2])`)
)

// Get implements crm.Store.
func (s *Store) Get(ctx context.Context, number string) (crm.Customer, error) {
	if err := canonical(number); err != nil {
		return crm.Customer{}, err
	}
	ctx, cancel := s.opContext(ctx, s.timeout)
	defer cancel()
	b, err := getScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix, number).Text()
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
	if err := putScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix, c.Number, rec).Err(); err != nil {
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
	n, err := deleteScript.Run(ctx, s.rdb, []string{s.current}, s.genPrefix, number).Int()
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
// which the first Replace drops like any other. Unlike the short calls it honours ctx cancellation between
// and during batches.
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
	key := s.genPrefix + genID
	defer func() {
		if err != nil {
			// Drop the half-built set even if ctx is done; its expiry
			// covers the case where Redis is gone too.
			dctx, cancel := s.opContext(ctx, s.timeout)
			defer cancel()
			if derr := dropScript.Run(dctx, s.rdb, []string{s.current}, s.genPrefix, genID).Err(); derr != nil {
				s.log.Warn("crm reload failed and its half-built generation stays in Redis until it expires",
					"generation", key, "expires_in", buildTTL, "err", derr)
			}
		}
	}()

	var added int64 // distinct numbers written: HSET counts new fields only
	batch := make([]any, 0, 2*replaceBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, s.bulk)
		defer cancel()
		var hset *redis.IntCmd
		_, err := s.rdb.Pipelined(bctx, func(p redis.Pipeliner) error {
			hset = p.HSet(bctx, key, batch...)
			p.Expire(bctx, key, buildTTL)
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstore: replace: write generation %s: %w", genID, err)
		}
		added += hset.Val()
		batch = batch[:0]
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
		batch = append(batch, c.Number, rec)
		if len(batch) == cap(batch) {
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
	old, err := switchScript.Run(sctx, s.rdb, []string{s.current}, s.genPrefix, genID, added).Text()
	if err != nil {
		return fmt.Errorf("redisstore: replace: switch to generation %s: %w", genID, err)
	}
	if old != genID {
		// UNLINK hands the old hash to Redis's lazy-free thread. Failing to
		// drop it wastes memory but the reload itself succeeded.
		if uerr := dropScript.Run(sctx, s.rdb, []string{s.current}, s.genPrefix, old).Err(); uerr != nil {
			s.log.Warn("crm reload switched but the old generation stays in Redis",
				"generation", genID, "old", s.genPrefix+old, "err", uerr)
		}
	}
	return nil
}
