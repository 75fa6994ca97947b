package crm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestResolver(t *testing.T, cfg ResolverConfig) *Resolver {
	t.Helper()
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeCRM is a live CRM endpoint whose behaviour a test switches.
type fakeCRM struct {
	srv     *httptest.Server
	hits    atomic.Int32
	mode    atomic.Value // string: "ok", "fail", "slow", "garbage"
	release chan struct{}
	authBad atomic.Int32
}

func newFakeCRM(t *testing.T, customers map[string]jsonCustomer) *fakeCRM {
	t.Helper()
	f := &fakeCRM{release: make(chan struct{})}
	f.mode.Store("ok")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			f.authBad.Add(1)
			http.Error(w, "unauthorised", http.StatusUnauthorized)
			return
		}
		switch f.mode.Load().(string) {
		case "fail":
			http.Error(w, "database down", http.StatusInternalServerError)
			return
		case "slow":
			select {
			case <-r.Context().Done():
			case <-f.release:
			}
			return
		case "garbage":
			_, _ = w.Write([]byte("<html>maintenance</html>"))
			return
		}
		number := strings.TrimPrefix(r.URL.Path, "/customers/")
		c, ok := customers[number]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(c)
	}))
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

func (f *fakeCRM) live(t *testing.T, cfg LiveConfig) *Live {
	t.Helper()
	cfg.URLTemplate = f.srv.URL + "/customers/{number}"
	cfg.AuthHeader, cfg.AuthValue = "Authorization", "Bearer s3cret"
	l, err := NewLive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var liveCustomers = map[string]jsonCustomer{
	"13900000001": {ID: "L1", Name: "Live Gold", Tier: "Gold", Region: "west", Blacklisted: "yes",
		Attributes: map[string]string{"vip_since": "2019"}},
	"13900000002": {Name: "Live No Region", Tier: "silver", Blacklisted: "false"},
	"13900000003": {Name: "Live Bad Tier", Tier: "platinum"},
}

func TestResolverStoreHitSkipsLive(t *testing.T) {
	ctx := context.Background()
	crm := newFakeCRM(t, liveCustomers)
	store := NewMemStore()
	_ = store.Put(ctx, Customer{ID: "C1", Number: "13800000001", Name: "Demo Diamond", Tier: "diamond", Region: "north"})
	r := newTestResolver(t, ResolverConfig{Store: store, Live: crm.live(t, LiveConfig{})})
	c, err := r.Lookup(ctx, "+86 138 0000 0001")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tier != "diamond" || c.Source != SourceStore || c.Degraded || !c.Known() {
		t.Fatalf("got %+v", c)
	}
	if n := crm.hits.Load(); n != 0 {
		t.Fatalf("store hit still asked the live CRM %d times", n)
	}
}

func TestResolverLiveFallback(t *testing.T) {
	ctx := context.Background()
	crm := newFakeCRM(t, liveCustomers)
	store := NewMemStore()
	regions, _ := NewPrefixTable(map[string]string{"139": "east"})
	r := newTestResolver(t, ResolverConfig{Store: store, Regions: regions,
		Live: crm.live(t, LiveConfig{Cache: store, Tiers: DemoTiers})})

	tests := []struct {
		name, number string
		want         Customer
		degraded     bool
	}{
		{"live hit, cached", "13900000001", Customer{ID: "L1", Number: "13900000001", Name: "Live Gold", Tier: "gold", Region: "west",
			Blacklisted: true, Attributes: map[string]string{"vip_since": "2019"}, Source: SourceLive}, false},
		{"live hit, region from prefix", "013900000002", Customer{ID: "13900000002", Number: "13900000002", Name: "Live No Region",
			Tier: "silver", Region: "east", Source: SourceLive}, false},
		{"unknown everywhere", "13700000000", Customer{Number: "13700000000", Tier: DefaultTier, Source: SourceDefault}, false},
		{"live answers a tier we do not have", "13900000003", Customer{Number: "13900000003", Tier: DefaultTier, Region: "east",
			Source: SourceDefault, Degraded: true}, true},
		{"anonymous caller", "anonymous", Customer{Number: "anonymous", Tier: DefaultTier, Source: SourceDefault}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Lookup(ctx, tt.number)
			if (err != nil) != tt.degraded {
				t.Fatalf("err = %v, want degraded %v", err, tt.degraded)
			}
			if !equalCustomer(c, tt.want) {
				t.Fatalf("got %+v\nwant %+v", c, tt.want)
			}
		})
	}
	// The live answer went into the store: the next call is a store hit.
	before := crm.hits.Load()
	c, err := r.Lookup(ctx, "13900000001")
	if err != nil || c.Source != SourceStore || c.Tier != "gold" {
		t.Fatalf("second lookup: %+v, %v", c, err)
	}
	if crm.hits.Load() != before {
		t.Fatal("cached customer asked the live CRM again")
	}
	if crm.authBad.Load() != 0 {
		t.Fatal("live lookup sent no or a wrong auth header")
	}
}

func equalCustomer(a, b Customer) bool {
	if len(a.Attributes) != len(b.Attributes) {
		return false
	}
	for k, v := range a.Attributes {
		if b.Attributes[k] != v {
			return false
		}
	}
	a.Attributes, b.Attributes = nil, nil
	return reflect.DeepEqual(a, b)
}

// stuckLookup ignores its context, like a badly written CRM client.
type stuckLookup struct{ release chan struct{} }

func (s stuckLookup) Lookup(context.Context, string) (Customer, error) {
	<-s.release
	return Customer{Tier: "diamond"}, nil
}

// brokenStore fails every read, like an unreachable Redis.
type brokenStore struct{ *MemStore }

func (brokenStore) Get(context.Context, string) (Customer, error) {
	return Customer{}, errors.New("connection refused")
}

func TestResolverDegradesWithinDeadline(t *testing.T) {
	const deadline = 50 * time.Millisecond
	stuck := stuckLookup{release: make(chan struct{})}
	t.Cleanup(func() { close(stuck.release) })
	tests := []struct {
		name     string
		mode     string // fake CRM mode
		live     func(*fakeCRM) Lookup
		store    Store
		wantErr  error
		wantText string
	}{
		{name: "live CRM slow", mode: "slow", wantErr: context.DeadlineExceeded},
		{name: "live CRM failing", mode: "fail", wantText: "500"},
		{name: "live CRM answers garbage", mode: "garbage", wantText: "decoding"},
		{name: "live client ignores its context", live: func(*fakeCRM) Lookup { return stuck }, wantErr: context.DeadlineExceeded},
		{name: "store down, live does not know the number", mode: "ok", store: brokenStore{NewMemStore()}, wantText: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crm := newFakeCRM(t, liveCustomers)
			if tt.mode != "" {
				crm.mode.Store(tt.mode)
			}
			var live Lookup = crm.live(t, LiveConfig{Timeout: time.Minute})
			if tt.live != nil {
				live = tt.live(crm)
			}
			store := tt.store
			if store == nil {
				store = NewMemStore()
			}
			var events []LookupEvent
			r := newTestResolver(t, ResolverConfig{Store: store, Live: live, Deadline: deadline,
				Observe: func(e LookupEvent) { events = append(events, e) }})
			start := time.Now()
			c, err := r.Lookup(context.Background(), "13700000000")
			elapsed := time.Since(start)
			// Without the deadline these cases hang until the test ends; the
			// bound here is loose because the machine is shared.
			if elapsed > 5*time.Second {
				t.Fatalf("lookup took %v with a %v deadline", elapsed, deadline)
			}
			if err == nil {
				t.Fatal("no error reported for a failed lookup")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantText)
			}
			if c.Tier != DefaultTier || !c.Degraded || c.Source != SourceDefault || c.Number != "13700000000" {
				t.Fatalf("got %+v, want degraded default customer", c)
			}
			if len(events) != 1 || !events[0].Degraded || events[0].Err == nil {
				t.Fatalf("observed %+v", events)
			}
		})
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	ctx := context.Background()
	crm := newFakeCRM(t, liveCustomers)
	live := crm.live(t, LiveConfig{FailureThreshold: 3, CoolDown: time.Minute})
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	live.breaker.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	type step struct {
		name      string
		mode      string
		advance   time.Duration
		wantErr   error // nil: success
		wantState BreakerState
		wantHits  int32 // cumulative requests reaching the CRM
	}
	steps := []step{
		{"fail 1", "fail", 0, errAny, BreakerClosed, 1},
		{"fail 2", "fail", 0, errAny, BreakerClosed, 2},
		{"fail 3 opens", "fail", 0, errAny, BreakerOpen, 3},
		{"open refuses without a request", "ok", 0, ErrBreakerOpen, BreakerOpen, 3},
		{"still open before cool-down", "ok", 59 * time.Second, ErrBreakerOpen, BreakerOpen, 3},
		{"half-open trial fails, reopens", "fail", 2 * time.Second, errAny, BreakerOpen, 4},
		{"reopened refuses", "ok", 30 * time.Second, ErrBreakerOpen, BreakerOpen, 4},
		{"half-open trial succeeds, closes", "ok", 31 * time.Second, nil, BreakerClosed, 5},
		{"closed again", "ok", 0, nil, BreakerClosed, 6},
		{"one failure after recovery does not open", "fail", 0, errAny, BreakerClosed, 7},
		{"not found counts as success", "ok", 0, ErrNotFound, BreakerClosed, 8},
	}
	for _, s := range steps {
		crm.mode.Store(s.mode)
		advance(s.advance)
		number := "13900000001"
		if s.wantErr == ErrNotFound {
			number = "13700000000"
		}
		_, err := live.Lookup(ctx, number)
		switch {
		case s.wantErr == nil && err != nil, s.wantErr == errAny && err == nil,
			s.wantErr != nil && s.wantErr != errAny && !errors.Is(err, s.wantErr):
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if st := live.Breaker().State(); st != s.wantState {
			t.Fatalf("%s: state %v, want %v", s.name, st, s.wantState)
		}
		if h := crm.hits.Load(); h != s.wantHits {
			t.Fatalf("%s: %d requests reached the CRM, want %d", s.name, h, s.wantHits)
		}
	}
}

var errAny = errors.New("any error")

func TestBreakerHalfOpenAdmitsOneTrial(t *testing.T) {
	b := NewBreaker(1, time.Second)
	now := time.Unix(0, 0)
	b.now = func() time.Time { return now }
	if !b.Failure() {
		t.Fatal("threshold failure did not report opening")
	}
	if b.Failure() {
		t.Fatal("failure of an open breaker reported opening again")
	}
	if err := b.Allow(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("open breaker allowed a request: %v", err)
	}
	now = now.Add(time.Second)
	if err := b.Allow(); err != nil {
		t.Fatalf("trial refused: %v", err)
	}
	if err := b.Allow(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatal("second request allowed while the trial is out")
	}
	if b.State() != BreakerHalfOpen {
		t.Fatalf("state %v", b.State())
	}
	if !b.Success() {
		t.Fatal("successful trial did not report closing")
	}
	if err := b.Allow(); err != nil || b.State() != BreakerClosed {
		t.Fatalf("after successful trial: %v, %v", err, b.State())
	}
}

func TestRegionFromRecordOrPrefix(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	_ = store.Put(ctx, Customer{Number: "13800000001", Tier: "gold", Region: "south"})
	_ = store.Put(ctx, Customer{Number: "13800000002", Tier: "gold"})
	regions, err := NewPrefixTable(map[string]string{"138000000": "north", "1380000000": "north-east", "10": "beijing"})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, ResolverConfig{Store: store, Regions: regions})
	tests := []struct{ number, region string }{
		{"13800000001", "south"},      // the record's own region wins
		{"13800000002", "north-east"}, // longest prefix
		{"13800000012", "north"},      // unknown caller, prefix region
		{"010 6552 9988", "beijing"},  // trunk prefix stripped before matching
		{"13700000000", ""},           // nothing matches
	}
	for _, tt := range tests {
		c, err := r.Lookup(ctx, tt.number)
		if err != nil || c.Region != tt.region {
			t.Errorf("Lookup(%s) region = %q, %v; want %q", tt.number, c.Region, err, tt.region)
		}
	}
}

func TestNewLiveAndResolverValidate(t *testing.T) {
	if _, err := NewLive(LiveConfig{URLTemplate: "http://127.0.0.1/customers"}); err == nil {
		t.Error("live URL template without {number} accepted")
	}
	if _, err := NewResolver(ResolverConfig{}); err == nil {
		t.Error("resolver without store accepted")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestLiveQueryTemplateKeepsPlus(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query().Get("msisdn")
		_, _ = w.Write([]byte(`{"name":"Abroad","tier":"gold","blacklisted":null}`))
	}))
	t.Cleanup(srv.Close)
	l, err := NewLive(LiveConfig{URLTemplate: srv.URL + "/lookup?msisdn={number}"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Lookup(context.Background(), "0044 20 7946 0000")
	if err != nil {
		t.Fatal(err)
	}
	if got != "+442079460000" || c.Number != "+442079460000" || c.Tier != "gold" || c.Source != SourceLive {
		t.Fatalf("CRM saw %q, answered %+v", got, c)
	}
}

func TestLiveRemembersUnknownNumbers(t *testing.T) {
	ctx := context.Background()
	crm := newFakeCRM(t, liveCustomers)
	l := crm.live(t, LiveConfig{NotFoundTTL: time.Minute, NotFoundMax: 2})
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	steps := []struct {
		number   string
		advance  time.Duration
		wantHits int32
	}{
		{"13700000000", 0, 1},                // asks the CRM: unknown
		{"+8613700000000", 0, 1},             // remembered, same number in another form
		{"13900000001", 0, 2},                // customers are never remembered as unknown
		{"13900000001", 0, 3},                // (no Cache configured)
		{"13700000000", 61 * time.Second, 4}, // forgotten after the TTL
		{"13700000001", 0, 5},                // second unknown: memory now full (2)
		{"13700000002", 0, 6},                // third: memory dropped and rebuilt
		{"13700000000", 0, 7},                // so the first is asked again
		{"13700000002", 0, 7},                // but the newest is remembered
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		_, err := l.Lookup(ctx, s.number)
		if strings.HasPrefix(s.number, "137") || strings.HasPrefix(s.number, "+86137") {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("step %d %s: err = %v, want not found", i, s.number, err)
			}
		} else if err != nil {
			t.Fatalf("step %d %s: %v", i, s.number, err)
		}
		if h := crm.hits.Load(); h != s.wantHits {
			t.Fatalf("step %d %s: %d requests reached the CRM, want %d", i, s.number, h, s.wantHits)
		}
	}
}
