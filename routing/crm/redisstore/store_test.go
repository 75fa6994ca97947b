package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/routing/crm/crmtest"
)

// newTestStore returns a store on srv whose keys are private to t.
func newTestStore(t testing.TB, srv *redistest.Server) *Store {
	t.Helper()
	s, err := New(Options{Addr: srv.Socket, Prefix: "test:" + t.Name() + ":", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// keys lists the Redis keys of s, to check that reloads leave nothing behind.
func keys(t testing.TB, s *Store) []string {
	t.Helper()
	ks, err := s.rdb.Keys(context.Background(), strings.TrimSuffix(s.current, "current")+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// strayKeys lists the keys of s that belong to no live data: anything but the
// pointer, the generation counter and the live generation's buckets and count.
func strayKeys(t testing.TB, s *Store) []string {
	t.Helper()
	live, err := s.rdb.Get(context.Background(), s.current).Result()
	if err != nil {
		t.Fatal(err)
	}
	var stray []string
	for _, k := range keys(t, s) {
		if k != s.current && k != s.seq && !strings.HasPrefix(k, s.genPrefix+live+":") {
			stray = append(stray, k)
		}
	}
	return stray[:min(len(stray), 5)] // enough to see which generation
}

func TestStoreContract(t *testing.T) {
	srv := redistest.Start(t)
	crmtest.RunStore(t, func(t *testing.T) crm.Store { return newTestStore(t, srv) })
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"no address", Options{}},
		{"negative timeout", Options{Addr: "127.0.0.1:1", Timeout: -time.Second}},
		{"negative db", Options{Addr: "127.0.0.1:1", DB: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := New(tt.o); err == nil {
				s.Close()
				t.Fatalf("New(%+v) accepted", tt.o)
			}
		})
	}
}

// Readers running through many reloads must always see one whole set: set A
// holds numbers 0-499 named "A", set B numbers 250-749 named "B". A reader
// sees a half-loaded set as a missing number in 250-499 or a short Len, and a
// mix as a number outside its set's range or a Len above 500.
func TestReplaceIsAtomicForReaders(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv)
	ctx := context.Background()
	set := func(name string, from int) []crm.Customer {
		cs := make([]crm.Customer, 500)
		for i := range cs {
			cs[i] = crm.Customer{Number: fmt.Sprint(13800000000 + from + i), Name: name, Tier: "gold",
				Attributes: map[string]string{"set": name}}
		}
		return cs
	}
	a, b := set("A", 0), set("B", 250)
	if err := s.Replace(ctx, crmtest.Seq(a...)); err != nil {
		t.Fatal(err)
	}

	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			for i := r; rctx.Err() == nil; i += 7 {
				n := i % 750
				c, err := s.Get(ctx, fmt.Sprint(13800000000+n))
				switch {
				case errors.Is(err, crm.ErrNotFound):
					if n >= 250 && n < 500 {
						t.Errorf("number %d (in both sets) missing: half-loaded set", n)
						return
					}
				case err != nil:
					t.Error(err)
					return
				case c.Name == "A" && n >= 500, c.Name == "B" && n < 250, c.Name != c.Attributes["set"]:
					t.Errorf("number %d read as %+v: sets mixed", n, c)
					return
				}
				if i%5 == 0 {
					if l, err := s.Len(ctx); err != nil || l != 500 {
						t.Errorf("Len = %d, %v during reloads, want 500", l, err)
						return
					}
				}
			}
		})
	}
	// Two reloaders race each other as two engine nodes would.
	var rl sync.WaitGroup
	for w := range 2 {
		rl.Go(func() {
			for i := range 15 {
				next := a
				if (i+w)%2 == 0 {
					next = b
				}
				if err := s.Replace(ctx, crmtest.Seq(next...)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	rl.Wait()
	stop()
	wg.Wait()

	// Every replaced generation was dropped: the live one, the pointer and
	// the generation counter are all that is left.
	if ks := strayKeys(t, s); len(ks) != 0 {
		t.Fatalf("keys left by replaced generations: %v", ks)
	}
	// The live generation lost its build expiry: it will not vanish later.
	live, err := s.rdb.Get(ctx, s.current).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"13800000250", "13800000499"} {
		k := s.genPrefix + live + ":" + strconv.Itoa(bucketOf(n))
		if ttl, err := s.rdb.TTL(ctx, k).Result(); err != nil || ttl != -1 {
			t.Fatalf("live bucket %s TTL = %v, %v; want none (-1)", k, ttl, err)
		}
	}
}

func TestFailedReplaceDropsItsGeneration(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv)
	ctx := context.Background()
	if err := s.Replace(ctx, crmtest.Seq(crm.Customer{Number: "13800000001", Tier: "gold"})); err != nil {
		t.Fatal(err)
	}
	before := keys(t, s)
	boom := errors.New("crm export broke")
	tests := []struct {
		name string
		all  func(yield func(crm.Customer, error) bool)
		want error
	}{
		{"source error after a full batch", func(yield func(crm.Customer, error) bool) {
			for i := range replaceBatch + 10 {
				if !yield(crm.Customer{Number: fmt.Sprint(13900000000 + i), Tier: "gold"}, nil) {
					return
				}
			}
			yield(crm.Customer{}, boom)
		}, boom},
		{"malformed number", func(yield func(crm.Customer, error) bool) {
			if yield(crm.Customer{Number: "13900000000", Tier: "gold"}, nil) {
				yield(crm.Customer{Number: "139-0000", Tier: "gold"}, nil)
			}
		}, crm.ErrMalformedNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Replace(ctx, tt.all); !errors.Is(err, tt.want) {
				t.Fatalf("Replace error = %v, want %v", err, tt.want)
			}
			if after := keys(t, s); len(after) != len(before) {
				t.Fatalf("%d keys after failed reload, %d before", len(after), len(before))
			}
			if c, err := s.Get(ctx, "13800000001"); err != nil || c.Tier != "gold" {
				t.Fatalf("live set after failed reload: %+v, %v", c, err)
			}
		})
	}
}

// Another node (or another software version) sharing the Redis can leave a
// record this one cannot read: that is an error, not a wrong customer.
func TestGetReportsCorruptRecord(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv)
	ctx := context.Background()
	if err := s.Put(ctx, crm.Customer{Number: "13800000001", Tier: "gold"}); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.HSet(ctx, s.genPrefix+"0:"+strconv.Itoa(bucketOf("13800000001")), "13800000001", "\x09garbage").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "13800000001"); !errors.Is(err, errCorrupt) {
		t.Fatalf("Get of a corrupt record: %v", err)
	}
}

// A lookup against a Redis that is down, absent or stuck returns an error
// (never ErrNotFound, which would wrongly mark the caller unknown) instead
// of hanging the call.
func TestGetFailsWhenRedisIsUnavailable(t *testing.T) {
	stopped := redistest.Start(t)
	stoppedStore, err := New(Options{Addr: stopped.Socket, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stoppedStore.Close()
	if err := stoppedStore.Put(context.Background(), crm.Customer{Number: "13800000001", Tier: "gold"}); err != nil {
		t.Fatal(err)
	}
	stopped.Stop() // the store now holds a pooled connection to a dead server

	// stuck accepts connections and never answers: the Redis that hangs.
	stuck, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	defer func() {
		stuck.Close()
		conns.Wait()
	}()
	conns.Go(func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := stuck.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	})

	tests := []struct {
		name    string
		store   *Store
		opts    Options
		timeout time.Duration // caller's deadline, 0 for none
	}{
		{name: "server stopped", store: stoppedStore},
		{name: "nothing listening", opts: Options{Addr: t.TempDir() + "/absent.sock", Timeout: 50 * time.Millisecond}},
		{name: "server never answers", opts: Options{Addr: stuck.Addr().String(), Timeout: 50 * time.Millisecond}},
		// The caller's deadline (crm.Resolver's) cuts a long store timeout.
		{name: "server never answers, caller deadline", opts: Options{Addr: stuck.Addr().String(), Timeout: time.Hour},
			timeout: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.store
			if s == nil {
				if s, err = New(tt.opts); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			done := make(chan error, 1)
			go func() {
				_, err := s.Get(ctx, "13800000001")
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || errors.Is(err, crm.ErrNotFound) {
					t.Fatalf("Get = %v, want a connection error", err)
				}
				t.Logf("Get: %v", err)
			// Not a latency check: only a hang detector far above any timeout.
			case <-time.After(30 * time.Second):
				t.Fatal("Get hung")
			}
		})
	}
}

// Redis coming back after an outage serves lookups again without a new store.
func TestStoreRecoversWhenRedisReturns(t *testing.T) {
	srv := redistest.Start(t)
	s, err := New(Options{Addr: srv.Socket, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Put(ctx, crm.Customer{Number: "13800000001", Tier: "gold"}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := s.Get(ctx, "13800000001"); err == nil {
		t.Fatal("Get succeeded with Redis down")
	}
	// Same socket path, fresh (empty) server.
	srv.Restart(t)
	if _, err := s.Get(ctx, "13800000001"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("Get after restart = %v, want ErrNotFound from the empty new server", err)
	}
	if err := s.Put(ctx, crm.Customer{Number: "13800000001", Tier: "gold"}); err != nil {
		t.Fatal(err)
	}
}

// Customers Put before any reload live in generation 0; the first reload
// replaces them and drops that generation too.
func TestFirstReplaceDropsEarlierPuts(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv)
	ctx := context.Background()
	if err := s.Put(ctx, crm.Customer{Number: "13800000001", Tier: "gold"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(ctx, crmtest.Seq(crm.Customer{Number: "13800000002", Tier: "silver"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "13800000001"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("customer put before the reload: %v, want ErrNotFound", err)
	}
	if ks := strayKeys(t, s); len(ks) != 0 {
		t.Fatalf("keys left after the first reload: %v", ks)
	}
	// Cleaning up after a reload never drops the live generation, even if
	// asked to (a reload whose switch ran but whose reply was lost).
	live, err := s.rdb.Get(ctx, s.current).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.dropGeneration(ctx, live); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Get(ctx, "13800000002"); err != nil || c.Tier != "silver" {
		t.Fatalf("live set after a drop of the live generation: %+v, %v", c, err)
	}
}

// A node that died mid-reload left a half-built generation; the next reload,
// on any node, drops it once it is older than buildTTL, and only then.
func TestReplaceSweepsAbandonedReloads(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv)
	ctx := context.Background()
	abandoned := s.genPrefix + "900:7"
	recent := s.genPrefix + "901:7"
	for _, k := range []string{abandoned, recent} {
		if err := s.rdb.HSet(ctx, k, "13800000001", "x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.rdb.ZAdd(ctx, s.building,
		redis.Z{Score: float64(time.Now().Add(-buildTTL - time.Minute).Unix()), Member: "900"},
		redis.Z{Score: float64(time.Now().Unix()), Member: "901"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(ctx, crmtest.Seq(crm.Customer{Number: "13800000002", Tier: "gold"})); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key      string
		building string
		want     int64
	}{
		{abandoned, "900", 0},
		{recent, "901", 1}, // still being built by a live node
	}
	for _, tt := range tests {
		if n, err := s.rdb.Exists(ctx, tt.key).Result(); err != nil || n != tt.want {
			t.Errorf("EXISTS %s = %d, %v; want %d", tt.key, n, err, tt.want)
		}
		if _, err := s.rdb.ZScore(ctx, s.building, tt.building).Result(); (err == nil) != (tt.want == 1) {
			t.Errorf("generation %s still registered as building: %v, want %v", tt.building, err == nil, tt.want == 1)
		}
	}
}
