package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/guard"
)

// The engine's edge: one guard shared by SIP digest, HTTP basic auth and the
// desktop login; one credential store (bcrypt/argon2id hashes for people,
// digest HA1 for phones, no clear password kept); HTTPS certificates; and
// the HTTP listener's caps.

// credential is what the engine keeps of an agent's secret.
type credential struct {
	hash string // bcrypt or argon2id: desktop and HTTP basic auth
	ha1  string // digest HA1: the phone
	srtp sdp.SRTPPolicy
	// clear fingerprints the configured clear password (keyed with a
	// secret of this process, so it is no credential itself): a reload
	// whose password is the same keeps the hash instead of paying bcrypt
	// again. Zero when the configuration gave a hash.
	clear [sha256.Size]byte
}

// fingerprintKey keys clear-password fingerprints; it never leaves the
// process.
var fingerprintKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return k
}()

func fingerprint(id, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, fingerprintKey)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	copy(out[:], m.Sum(nil))
	return out
}

// hashPasswords completes the plan's credentials: every clear password is
// hashed (bcrypt, ~60 ms each, on every core) unless prev, the plan in
// service, already holds the hash of the same password. Then the clear
// passwords are forgotten: the plan's configuration and agents keep the
// hash (and the phone's HA1, so that a copy of the configuration plans the
// same credentials again).
func (p *plan) hashPasswords(prev *plan) (hashed int, err error) {
	if p.hashed {
		return 0, nil
	}
	cfg := p.cfg
	var todo []int
	for i, a := range cfg.Agents {
		c := p.creds[a.ID]
		if c.hash != "" {
			continue
		}
		if prev != nil {
			if old, ok := prev.creds[a.ID]; ok && old.hash != "" && old.clear == c.clear {
				c.hash = old.hash // same password: its hash stays
				p.creds[a.ID] = c
				continue
			}
		}
		todo = append(todo, i)
	}
	type job struct {
		i    int
		hash string
		err  error
	}
	jobs := make(chan int)
	done := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < min(4, len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				h, err := agentapi.HashPassword(cfg.Agents[i].Password)
				done <- job{i: i, hash: h, err: err}
			}
		}()
	}
	go func() {
		for _, i := range todo {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		close(done)
	}()
	var firstErr error
	for j := range done {
		a := cfg.Agents[j.i]
		if j.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("engine: agent %s: %w", a.ID, j.err)
			}
			continue
		}
		c := p.creds[a.ID]
		c.hash = j.hash
		p.creds[a.ID] = c
	}
	if firstErr != nil {
		return 0, firstErr
	}
	for i := range cfg.Agents {
		a := &cfg.Agents[i]
		c := p.creds[a.ID]
		a.PasswordHash, a.SIPHA1, a.Password = c.hash, c.ha1, ""
		p.agents[a.ID] = *a
	}
	p.hashed = true
	return len(todo), nil
}

// buildEdge hashes the start-up plan's passwords (and forgets the clear
// ones) and makes the guard shared by SIP digest, HTTP basic auth and the
// desktop login, trunks exempt from its rate cap.
func (e *Engine) buildEdge() error {
	cfg := e.cfg
	if _, err := e.plan.Load().hashPasswords(nil); err != nil {
		return err
	}
	rate := cfg.Security.RequestRate
	e.guard = guard.New(guard.Config{
		MaxFailures: cfg.Security.MaxFailures, UserMaxFailures: cfg.Security.UserMaxFailures,
		Window: cfg.Security.Window.D(), BanFor: cfg.Security.Ban.D(), MaxBan: cfg.Security.MaxBan.D(),
		RequestRate: rate, RequestBurst: cfg.Security.RequestBurst, Exempt: e.plan.Load().exempt, Logger: e.log,
	})
	e.basicCache = newVerifyCache()
	e.metrics.reg.MustRegister(newEdgeCollector(e))
	return nil
}

// sipSecurity fills the SIP server's edge settings from the configuration.
func (e *Engine) sipSecurity(c *sip.Config) {
	cfg := e.cfg
	c.Guard = e.guard
	c.NonceSecret = cfg.SIP.NonceSecret
	c.TLSAddr, c.TLSCert, c.TLSKey = cfg.SIP.TLS, cfg.Resolve(cfg.SIP.TLSCert), cfg.Resolve(cfg.SIP.TLSKey)
	c.TLSClientCA, c.TLSRootCA = cfg.Resolve(cfg.SIP.TLSClientCA), cfg.Resolve(cfg.SIP.TLSCA)
	c.FirstMessageTimeout, c.IdleTimeout = cfg.SIP.FirstMessageTimeout.D(), cfg.SIP.IdleTimeout.D()
	c.MaxConnsPerSource = cfg.SIP.MaxConnectionsPerSource
	if cfg.SIP.RTPLatch == "loose" {
		c.Latch = media.LatchLoose
	}
	// Trunks (with their SRTP policy and TLS name) and credentials come
	// from the plan in service: a reload replaces both (Server.SetTrunks,
	// and this function reads the plan of the moment).
	c.Trunks = e.plan.Load().trunks
	c.Credentials = func(user string) (sip.Credential, bool) {
		cr, ok := e.plan.Load().creds[user]
		if !ok {
			return sip.Credential{}, false
		}
		return sip.Credential{User: user, HA1: cr.ha1, SRTP: cr.srtp}, true
	}
}

// verifyCache remembers successful basic-auth checks for a short while,
// so a wallboard polling with basic auth does not pay a bcrypt per request.
type verifyCache struct {
	mu sync.Mutex
	ok map[[32]byte]time.Time
}

const verifyCacheTTL = 5 * time.Minute

func newVerifyCache() *verifyCache { return &verifyCache{ok: map[[32]byte]time.Time{}} }

func (v *verifyCache) key(user, pass, hash string) [32]byte {
	return sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + hash))
}

func (v *verifyCache) check(user, pass, hash string) bool {
	k := v.key(user, pass, hash)
	v.mu.Lock()
	t, hit := v.ok[k]
	v.mu.Unlock()
	if hit && time.Since(t) < verifyCacheTTL {
		return true
	}
	if !agentapi.VerifyPassword(hash, pass) {
		return false
	}
	v.mu.Lock()
	if len(v.ok) > 10000 {
		clear(v.ok)
	}
	v.ok[k] = time.Now()
	v.mu.Unlock()
	return true
}

// basicAuth checks HTTP basic credentials through the guard. It writes the
// refusal itself (401, or 429 for a banned source) and returns ok=false.
func (e *Engine) basicAuth(w http.ResponseWriter, r *http.Request) (config.Agent, bool) {
	src, srcOK := httpSource(r)
	user, pass, given := r.BasicAuth()
	if srcOK && !e.guard.Allowed(src, user) {
		http.Error(w, "too many failed logins from this address; try again later", http.StatusTooManyRequests)
		return config.Agent{}, false
	}
	a, known := e.agent(user)
	if !given || !known || !e.basicCache.check(user, pass, a.PasswordHash) {
		if given && srcOK {
			e.guard.Fail(guard.SurfaceHTTPBasic, src, user)
		}
		if given && !known {
			agentapi.VerifyPassword(dummyHash, pass) // same cost for unknown users
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="hotline"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return config.Agent{}, false
	}
	if srcOK {
		e.guard.Succeed(src, user)
	}
	return a, true
}

var dummyHash, _ = agentapi.HashPassword("x")

// refuseBanned answers 429 to a banned source before next sees the request.
func (e *Engine) refuseBanned(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if src, ok := httpSource(r); ok && e.guard.Banned(src) {
			http.Error(w, "too many failed logins from this address; try again later", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func httpSource(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// httpCerts is the HTTPS certificate, swapped on reload.
type httpCerts struct {
	cert, key string
	cur       atomic.Pointer[tls.Certificate]
}

func (c *httpCerts) load() error {
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("engine: http tls certificate %s / key %s: %w", c.cert, c.key, err)
	}
	c.cur.Store(&cert)
	return nil
}

// ReloadCertificates re-reads the SIP and HTTPS certificates (SIGHUP); on
// error the ones in use stay.
func (e *Engine) ReloadCertificates() error {
	var err error
	if e.sip != nil {
		if err = e.sip.ReloadTLS(); err != nil {
			e.log.Error("sip tls certificate reload failed; the old one stays", "err", err)
		}
	}
	if e.httpCerts != nil {
		if herr := e.httpCerts.load(); herr != nil {
			e.log.Error("https certificate reload failed; the old one stays", "err", herr)
			err = herr
		} else {
			e.log.Info("https certificate reloaded", "cert", e.httpCerts.cert)
		}
	}
	return err
}

// Defaults for the HTTP listener.
const (
	defaultHTTPReadHeaderTimeout = 10 * time.Second
	defaultHTTPIdleTimeout       = 2 * time.Minute
	defaultHTTPMaxPerSource      = 512
)

// listenHTTP binds http.listen behind the per-source cap (and TLS when a
// certificate is configured).
func (e *Engine) listenHTTP() (net.Listener, error) {
	cfg := e.cfg
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("engine: http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	per := cfg.HTTP.MaxConnectionsPerSource
	if per <= 0 {
		per = defaultHTTPMaxPerSource
	}
	capped := &capListener{Listener: ln, per: per, guard: e.guard, bySource: map[netip.Addr]int{}, refused: &e.httpRefused}
	if cfg.HTTP.TLSCert == "" {
		return capped, nil
	}
	e.httpCerts = &httpCerts{cert: cfg.Resolve(cfg.HTTP.TLSCert), key: cfg.Resolve(cfg.HTTP.TLSKey)}
	if err := e.httpCerts.load(); err != nil {
		ln.Close()
		return nil, err
	}
	return tls.NewListener(capped, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return e.httpCerts.cur.Load(), nil
		},
	}), nil
}

// newHTTPServer applies the deadlines: a request's headers (a WebSocket
// handshake's too) within read_header_timeout, idle keep-alive connections
// cut after idle_timeout. Bodies are small and WebSockets long-lived, so
// there is no whole-request read timeout.
func (e *Engine) newHTTPServer() *http.Server {
	rh := e.cfg.HTTP.ReadHeaderTimeout.D()
	if rh <= 0 {
		rh = defaultHTTPReadHeaderTimeout
	}
	idle := e.cfg.HTTP.IdleTimeout.D()
	if idle <= 0 {
		idle = defaultHTTPIdleTimeout
	}
	return &http.Server{Handler: e.httpHandler(), ReadHeaderTimeout: rh, IdleTimeout: idle, MaxHeaderBytes: 64 << 10,
		ErrorLog: nil}
}

// capListener refuses a source's connections beyond per (and a banned
// source's at once) and counts them.
type capListener struct {
	net.Listener
	per      int
	guard    *guard.Guard
	mu       sync.Mutex
	bySource map[netip.Addr]int
	open     atomic.Int64
	refused  *atomic.Int64
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			c.Close()
			continue
		}
		src := ap.Addr().Unmap()
		l.mu.Lock()
		n := l.bySource[src]
		if n >= l.per {
			l.mu.Unlock()
			l.refused.Add(1)
			c.Close()
			continue
		}
		l.bySource[src] = n + 1
		l.mu.Unlock()
		l.open.Add(1)
		return &capConn{Conn: c, l: l, src: src}, nil
	}
}

type capConn struct {
	net.Conn
	l    *capListener
	src  netip.Addr
	once sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.bySource[c.src] <= 1 {
			delete(c.l.bySource, c.src)
		} else {
			c.l.bySource[c.src]--
		}
		c.l.mu.Unlock()
		c.l.open.Add(-1)
	})
	return err
}

// edgeCollector exposes the guard's and the SIP edge's counters.
type edgeCollector struct {
	e                                               *Engine
	failures, bans, banned, malformed, conns, refus *prometheus.Desc
}

func newEdgeCollector(e *Engine) *edgeCollector {
	return &edgeCollector{e: e,
		failures:  prometheus.NewDesc("hotline_auth_failures_total", "Failed sign-ins (wrong digest or password), by surface.", []string{"surface"}, nil),
		bans:      prometheus.NewDesc("hotline_bans_active", "Source addresses banned now after repeated failures.", nil, nil),
		banned:    prometheus.NewDesc("hotline_auth_refused_total", "Attempts refused without a password check because the source is banned (or the user locked for it), and requests over the per-source rate.", []string{"reason"}, nil),
		malformed: prometheus.NewDesc("hotline_sip_malformed_total", "SIP messages dropped or refused as malformed.", nil, nil),
		conns:     prometheus.NewDesc("hotline_edge_connections", "Stream connections open (sip: TCP and TLS).", []string{"listener"}, nil),
		refus:     prometheus.NewDesc("hotline_edge_connections_refused_total", "Connections refused over a per-source or total cap, or from a banned source.", []string{"listener"}, nil),
	}
}

func (c *edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.failures, c.bans, c.banned, c.malformed, c.conns, c.refus} {
		ch <- d
	}
}

func (c *edgeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.guard.Stats()
	for _, s := range guard.Surfaces {
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failures[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(c.bans, prometheus.GaugeValue, float64(st.ActiveBans))
	ch <- prometheus.MustNewConstMetric(c.banned, prometheus.CounterValue, float64(st.Refused), "banned")
	ch <- prometheus.MustNewConstMetric(c.banned, prometheus.CounterValue, float64(st.RateLimited), "rate")
	if s := c.e.sip; s != nil {
		ch <- prometheus.MustNewConstMetric(c.malformed, prometheus.CounterValue, float64(s.Stats.Malformed.Load()))
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.OpenConns()), "sip")
		ch <- prometheus.MustNewConstMetric(c.refus, prometheus.CounterValue, float64(s.RefusedConns()), "sip")
	}
	ch <- prometheus.MustNewConstMetric(c.refus, prometheus.CounterValue, float64(c.e.httpRefused.Load()), "http")
}
