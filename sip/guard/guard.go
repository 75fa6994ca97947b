// Package guard is the one place where the engine's edge counts failed
// logins and floods and decides whom to ban. SIP digest (REGISTER and
// INVITE), HTTP basic auth and the desktop's WebSocket login all report to
// the same Guard, so an attacker who switches surface keeps his count.
//
// Rules (defaults in brackets):
//   - A source address with MaxFailures [10] failed attempts within Window
//     [5 min] is banned for BanFor [5 min]; each further ban of the same
//     source within a day doubles the time, up to MaxBan [24 h]. While
//     banned, every attempt from it is refused before any password is
//     checked, the right one included.
//   - A user with UserMaxFailures [30] failures within Window, from any
//     sources, is locked for sources that have not signed in as that user
//     successfully in the last day: a distributed guess is stopped while
//     the user's own phone or desktop (a known source) carries on. Nothing
//     an attacker does locks a source out that he does not control, except
//     a never-seen source of an attacked user.
//   - Each source may send RequestRate [20/s, burst 40] INVITEs and
//     REGISTERs (golang.org/x/time/rate); Exempt sources (configured trunks)
//     are not rate-capped but can still be banned.
//
// State is in memory, per node, bounded by sweeping idle entries; one log
// line per ban, not per failure.
package guard

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Surfaces are the places that report failures (metric label values).
const (
	SurfaceSIPRegister = "sip_register"
	SurfaceSIPInvite   = "sip_invite"
	SurfaceHTTPBasic   = "http_basic"
	SurfaceWSLogin     = "ws_login"
)

// Surfaces lists every surface, for metrics that must show zeros.
var Surfaces = []string{SurfaceSIPRegister, SurfaceSIPInvite, SurfaceHTTPBasic, SurfaceWSLogin}

// Config tunes the guard; zero values take the defaults in the package doc.
type Config struct {
	MaxFailures     int
	UserMaxFailures int
	Window          time.Duration
	BanFor          time.Duration
	MaxBan          time.Duration
	// RequestRate is INVITE+REGISTER per second per source; RequestBurst the
	// bucket depth. A negative RequestRate disables the cap.
	RequestRate  float64
	RequestBurst int
	// Exempt sources are never rate-capped (trunks sending hundreds of calls
	// a second); they are banned like anyone on failed logins.
	Exempt []netip.Prefix
	Logger *slog.Logger
	Now    func() time.Time
}

// Defaults.
const (
	DefaultMaxFailures     = 10
	DefaultUserMaxFailures = 30
	DefaultWindow          = 5 * time.Minute
	DefaultBanFor          = 5 * time.Minute
	DefaultMaxBan          = 24 * time.Hour
	DefaultRequestRate     = 20
	DefaultRequestBurst    = 40
	// repeatMemory is how long a source's earlier bans make the next longer,
	// and how long a successful sign-in makes a source known for a user.
	repeatMemory = 24 * time.Hour
	sweepEvery   = time.Minute
)

// Guard counts failures and holds bans. Safe for concurrent use.
type Guard struct {
	cfg Config
	log *slog.Logger
	// exempt is cfg.Exempt, replaced by SetExempt (the trunks changed).
	exempt atomic.Pointer[[]netip.Prefix]

	mu        sync.Mutex
	sources   map[netip.Addr]*sourceState
	users     map[string]*userState
	limiters  map[netip.Addr]*limiter
	lastSweep time.Time
	failures  map[string]uint64 // by surface
	bans      uint64            // bans imposed, ever
	refused   uint64            // attempts refused while banned or locked
	limited   uint64            // requests over the rate cap
}

type sourceState struct {
	fails    []time.Time // within Window, oldest first
	bannedTo time.Time
	banCount int
	lastBan  time.Time
}

type userState struct {
	fails []time.Time
	known map[netip.Addr]time.Time // source -> last successful sign-in
}

type limiter struct {
	lim  *rate.Limiter
	used time.Time
}

// New returns a guard with cfg's zero values filled in.
func New(cfg Config) *Guard {
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.UserMaxFailures <= 0 {
		cfg.UserMaxFailures = DefaultUserMaxFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.BanFor <= 0 {
		cfg.BanFor = DefaultBanFor
	}
	if cfg.MaxBan < cfg.BanFor {
		cfg.MaxBan = max(DefaultMaxBan, cfg.BanFor)
	}
	if cfg.RequestRate == 0 {
		cfg.RequestRate = DefaultRequestRate
	}
	if cfg.RequestBurst <= 0 {
		cfg.RequestBurst = DefaultRequestBurst
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{
		cfg: cfg, log: cfg.Logger,
		sources: map[netip.Addr]*sourceState{}, users: map[string]*userState{},
		limiters: map[netip.Addr]*limiter{}, failures: map[string]uint64{},
	}
	g.SetExempt(cfg.Exempt)
	return g
}

// SetExempt replaces the sources exempt from the rate cap (a
// configuration reload changed the trunks). Bans and counts stay.
func (g *Guard) SetExempt(exempt []netip.Prefix) {
	cp := append([]netip.Prefix(nil), exempt...)
	g.exempt.Store(&cp)
}

// Allowed reports whether src may try to sign in as user now: false while
// src is banned, or while user is locked and src is not one of its known
// sources. user may be "" when not yet known.
func (g *Guard) Allowed(src netip.Addr, user string) bool {
	src = src.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	g.sweepLocked(now)
	if s := g.sources[src]; s != nil && now.Before(s.bannedTo) {
		g.refused++
		return false
	}
	if user != "" {
		if u := g.users[user]; u != nil && g.userLockedLocked(u, now) {
			if t, ok := u.known[src]; !ok || now.Sub(t) > repeatMemory {
				g.refused++
				return false
			}
		}
	}
	return true
}

// Banned reports whether src is banned now (without counting a refusal).
func (g *Guard) Banned(src netip.Addr) bool {
	src = src.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[src]
	return s != nil && g.cfg.Now().Before(s.bannedTo)
}

// BanRemaining is how long src stays banned (0 when it is not).
func (g *Guard) BanRemaining(src netip.Addr) time.Duration {
	src = src.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[src]
	if s == nil {
		return 0
	}
	return max(0, s.bannedTo.Sub(g.cfg.Now()))
}

// Fail records a failed sign-in from src as user on surface. It returns
// true when this failure banned src.
func (g *Guard) Fail(surface string, src netip.Addr, user string) bool {
	src = src.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	g.failures[surface]++
	s := g.sources[src]
	if s == nil {
		s = &sourceState{}
		g.sources[src] = s
	}
	s.fails = append(trim(s.fails, now.Add(-g.cfg.Window)), now)
	if user != "" {
		u := g.users[user]
		if u == nil {
			u = &userState{}
			g.users[user] = u
		}
		wasLocked := g.userLockedLocked(u, now)
		u.fails = append(trim(u.fails, now.Add(-g.cfg.Window)), now)
		if !wasLocked && g.userLockedLocked(u, now) {
			g.log.Warn("guard: user locked for unknown sources after repeated failures",
				"user", user, "failures", len(u.fails), "window", g.cfg.Window)
		}
	}
	if len(s.fails) < g.cfg.MaxFailures || now.Before(s.bannedTo) {
		return false
	}
	if now.Sub(s.lastBan) > repeatMemory {
		s.banCount = 0
	}
	d := g.cfg.BanFor << min(s.banCount, 20)
	if d > g.cfg.MaxBan || d <= 0 {
		d = g.cfg.MaxBan
	}
	s.banCount++
	s.lastBan, s.bannedTo = now, now.Add(d)
	s.fails = s.fails[:0]
	g.bans++
	g.log.Warn("guard: source banned after repeated authentication failures",
		"source", src.String(), "surface", surface, "user", user, "ban", d, "bans_today", s.banCount)
	return true
}

// Succeed records a successful sign-in: src becomes a known source of user.
func (g *Guard) Succeed(src netip.Addr, user string) {
	src = src.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.users[user]
	if u == nil {
		u = &userState{}
		g.users[user] = u
	}
	if u.known == nil {
		u.known = map[netip.Addr]time.Time{}
	}
	u.known[src] = g.cfg.Now()
}

// AllowRequest applies the per-source INVITE/REGISTER rate cap.
func (g *Guard) AllowRequest(src netip.Addr) bool {
	if g.cfg.RequestRate < 0 {
		return true
	}
	src = src.Unmap()
	for _, p := range *g.exempt.Load() {
		if p.Contains(src) {
			return true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	l := g.limiters[src]
	if l == nil {
		l = &limiter{lim: rate.NewLimiter(rate.Limit(g.cfg.RequestRate), g.cfg.RequestBurst)}
		g.limiters[src] = l
	}
	l.used = now
	if l.lim.AllowN(now, 1) {
		return true
	}
	g.limited++
	return false
}

// Stats is a snapshot for metrics.
type Stats struct {
	Failures    map[string]uint64 // by surface
	ActiveBans  int
	Bans        uint64
	Refused     uint64
	RateLimited uint64
}

// Stats counts failures by surface and the bans in force.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	st := Stats{Failures: map[string]uint64{}, Bans: g.bans, Refused: g.refused, RateLimited: g.limited}
	for _, s := range Surfaces {
		st.Failures[s] = g.failures[s]
	}
	for k, v := range g.failures {
		st.Failures[k] = v
	}
	for _, s := range g.sources {
		if now.Before(s.bannedTo) {
			st.ActiveBans++
		}
	}
	return st
}

func (g *Guard) userLockedLocked(u *userState, now time.Time) bool {
	u.fails = trim(u.fails, now.Add(-g.cfg.Window))
	return len(u.fails) >= g.cfg.UserMaxFailures
}

// sweepLocked drops state that no longer matters so an attacker spraying
// addresses cannot grow the maps without bound.
func (g *Guard) sweepLocked(now time.Time) {
	if now.Sub(g.lastSweep) < sweepEvery {
		return
	}
	g.lastSweep = now
	for a, s := range g.sources {
		s.fails = trim(s.fails, now.Add(-g.cfg.Window))
		if len(s.fails) == 0 && now.After(s.bannedTo) && now.Sub(s.lastBan) > repeatMemory {
			delete(g.sources, a)
		}
	}
	for name, u := range g.users {
		u.fails = trim(u.fails, now.Add(-g.cfg.Window))
		for a, t := range u.known {
			if now.Sub(t) > repeatMemory {
				delete(u.known, a)
			}
		}
		if len(u.fails) == 0 && len(u.known) == 0 {
			delete(g.users, name)
		}
	}
	for a, l := range g.limiters {
		if now.Sub(l.used) > sweepEvery {
			delete(g.limiters, a)
		}
	}
}

// trim drops the times before cutoff (ts is sorted).
func trim(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	if i == 0 {
		return ts
	}
	return append(ts[:0], ts[i:]...)
}
