package guard

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTest(c *clock, cfg Config) *Guard {
	cfg.Now, cfg.Logger = c.now, slog.New(slog.DiscardHandler)
	return New(cfg)
}

var (
	attacker = netip.MustParseAddr("127.0.0.2")
	phone    = netip.MustParseAddr("127.0.0.1")
)

func TestBanAfterThresholdSparesOtherSources(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{})
	for i := 1; i <= 1000; i++ {
		if !g.Allowed(attacker, "1001") {
			if i != DefaultMaxFailures+1 {
				t.Fatalf("attempt %d refused; want the ban from attempt %d", i, DefaultMaxFailures+1)
			}
			break
		}
		g.Fail(SurfaceSIPRegister, attacker, "1001")
		if !g.Allowed(phone, "1001") {
			t.Fatalf("the phone's own source was locked out after %d attacker failures", i)
		}
	}
	if !g.Banned(attacker) {
		t.Fatal("attacker not banned")
	}
	if st := g.Stats(); st.ActiveBans != 1 || st.Failures[SurfaceSIPRegister] != DefaultMaxFailures || st.Failures[SurfaceWSLogin] != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Still banned just before five minutes, free after.
	c.add(DefaultBanFor - time.Second)
	if g.Allowed(attacker, "") {
		t.Fatal("ban lifted early")
	}
	c.add(2 * time.Second)
	if !g.Allowed(attacker, "") {
		t.Fatal("ban not lifted after BanFor")
	}
}

func TestBansGrowWithRepeats(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{})
	want := DefaultBanFor
	for round := 0; round < 4; round++ {
		for i := 0; i < DefaultMaxFailures; i++ {
			g.Fail(SurfaceHTTPBasic, attacker, "")
		}
		if got := g.BanRemaining(attacker); got != want {
			t.Fatalf("round %d: ban %v, want %v", round, got, want)
		}
		c.add(want + time.Second)
		want *= 2
	}
}

func TestFailuresOutsideWindowDoNotBan(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{})
	for i := 0; i < 3*DefaultMaxFailures; i++ {
		g.Fail(SurfaceWSLogin, attacker, "")
		c.add(DefaultWindow/time.Duration(DefaultMaxFailures-1) + time.Second)
	}
	if g.Banned(attacker) {
		t.Fatal("slow failures (fewer than the threshold per window) banned the source")
	}
}

func TestUserLockSparesKnownSources(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{})
	g.Succeed(phone, "1001")
	// A distributed guess: many sources, each under the per-source threshold.
	for i := 0; i < DefaultUserMaxFailures; i++ {
		src := netip.AddrFrom4([4]byte{127, 1, byte(i / 5), byte(i%5 + 1)})
		g.Fail(SurfaceSIPRegister, src, "1001")
	}
	if g.Allowed(netip.MustParseAddr("127.9.9.9"), "1001") {
		t.Fatal("a new source may still guess an attacked user's password")
	}
	if !g.Allowed(phone, "1001") {
		t.Fatal("the user's known source was locked out")
	}
	if !g.Allowed(netip.MustParseAddr("127.9.9.9"), "1002") {
		t.Fatal("another user was locked")
	}
}

func TestRateCap(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{RequestRate: 10, RequestBurst: 5, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	ok := 0
	for i := 0; i < 100; i++ {
		if g.AllowRequest(attacker) {
			ok++
		}
	}
	if ok != 5 {
		t.Fatalf("%d of 100 back-to-back requests allowed, want the burst of 5", ok)
	}
	c.add(time.Second)
	ok = 0
	for i := 0; i < 100; i++ {
		if g.AllowRequest(attacker) {
			ok++
		}
	}
	if ok != 5 { // refilled to the burst, not beyond
		t.Fatalf("after 1 s %d allowed, want 5", ok)
	}
	for i := 0; i < 1000; i++ {
		if !g.AllowRequest(phone) {
			t.Fatal("an exempt (trunk) source was rate-capped")
		}
	}
}

// A reload that changes the trunks changes who is exempt from the cap.
func TestSetExemptFollowsTrunks(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{RequestRate: 10, RequestBurst: 5, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	g.SetExempt([]netip.Prefix{netip.PrefixFrom(attacker, 32)})
	for i := 0; i < 100; i++ {
		if !g.AllowRequest(attacker) {
			t.Fatal("a source made exempt was rate-capped")
		}
	}
	ok := 0
	for i := 0; i < 100; i++ {
		if g.AllowRequest(phone) {
			ok++
		}
	}
	if ok != 5 {
		t.Fatalf("a source no longer exempt: %d of 100 allowed, want the burst of 5", ok)
	}
}

func TestSweepForgetsIdleSources(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	g := newTest(c, Config{})
	for i := 0; i < 1000; i++ {
		g.Fail(SurfaceSIPInvite, netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}), "")
	}
	c.add(DefaultWindow + 2*time.Minute)
	g.Allowed(phone, "")
	g.mu.Lock()
	n := len(g.sources)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle sources kept", n)
	}
}

// BenchmarkGuardAllowed is the cost the guard adds to every INVITE and
// REGISTER (ban check plus rate cap), with 10,000 sources known.
func BenchmarkGuardAllowed(b *testing.B) {
	g := New(Config{Logger: slog.New(slog.DiscardHandler), RequestRate: 1e9, RequestBurst: 1 << 30})
	srcs := make([]netip.Addr, 10000)
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		g.Fail(SurfaceSIPRegister, srcs[i], "")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := srcs[i%len(srcs)]
		if !g.Allowed(src, "1001") || !g.AllowRequest(src) {
			b.Fatal("refused")
		}
	}
}
