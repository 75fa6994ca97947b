package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/sipptest"
	"github.com/hotlinecc/hotline/sip/tlstest"
)

// httpFrom is an HTTP client whose connections come from a loopback
// address (127.0.0.2 etc. work on Linux's lo without setup).
func httpFrom(ip string, tlsConf *tls.Config) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: tlsConf, DisableKeepAlives: true}}
}

func getStatus(t *testing.T, c *http.Client, url, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestBruteForceHTTPAndDesktopLogin: 1,000 wrong basic-auth requests from
// 127.0.0.2 are answered 429 once the source is banned (the right password
// too), and wrong desktop logins from 127.0.0.3 get /ws refused with 429,
// while the supervisor (basic auth) and agent 1001 (desktop) on 127.0.0.1
// are served throughout. The metrics count failures per surface and bans.
func TestBruteForceHTTPAndDesktopLogin(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	base := "http://" + d.e.HTTPAddr()
	attacker, legit := httpFrom("127.0.0.2", nil), httpFrom("127.0.0.1", nil)
	codes := map[int]int{}
	for i := 0; i < 1000; i++ {
		codes[getStatus(t, attacker, base+"/api/agents", "9001", "guess")]++
		if i%100 == 0 {
			if c := getStatus(t, legit, base+"/api/agents", "9001", "pass9001"); c != 200 {
				t.Fatalf("supervisor on 127.0.0.1 after %d attacker requests: %d", i, c)
			}
		}
	}
	if codes[401] != 10 || codes[429] != 990 {
		t.Fatalf("attacker answers %v, want 10 × 401 then 990 × 429", codes)
	}
	if c := getStatus(t, attacker, base+"/api/agents", "9001", "pass9001"); c != 429 {
		t.Fatalf("right password from the banned source: %d", c)
	}
	if c := getStatus(t, attacker, base+"/recordings/", "9001", "pass9001"); c != 429 {
		t.Fatalf("recordings from the banned source: %d", c)
	}

	// Desktop logins: each connection may try a few passwords; the source
	// is banned after 10 failures whatever the connections.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsOpts := &websocket.DialOptions{HTTPClient: httpFrom("127.0.0.3", nil)}
	failures, refusedAt := 0, -1
	for i := 0; i < 100 && refusedAt < 0; i++ {
		c, err := apitest.DialWith(ctx, base, wsOpts)
		if err != nil {
			if !strings.Contains(err.Error(), "429") {
				t.Fatalf("dial %d: %v", i, err)
			}
			refusedAt = failures
			break
		}
		for j := 0; j < 3; j++ {
			_, err := c.Login(ctx, "1002", "guess", "")
			var re *apitest.RefusedError
			if errors.As(err, &re) && re.Code == agentapi.CodeBadCredentials {
				failures++
				continue
			}
			if errors.As(err, &re) && re.Code == agentapi.CodeTooManyFailures {
				refusedAt = failures
			}
			break
		}
		c.Close()
	}
	if refusedAt != 10 {
		t.Fatalf("desktop logins from 127.0.0.3 refused after %d failures, want 10", refusedAt)
	}
	if _, err := apitest.DialWith(ctx, base, wsOpts); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("/ws from the banned source: %v, want 429", err)
	}
	// The agent's own desktop is unaffected.
	d.desk(t, ctx, "1002")

	m := scrape(t, d)
	for series, want := range map[string]float64{
		`hotline_auth_failures_total{surface="http_basic"}`: 10,
		`hotline_auth_failures_total{surface="ws_login"}`:   10,
		`hotline_bans_active`:                               2,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
}

// TestReportsNeedASupervisor: per-agent figures are not public.
func TestReportsNeedASupervisor(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	base := "http://" + d.e.HTTPAddr()
	c := httpFrom("127.0.0.1", nil)
	for _, path := range []string{"/api/reports?interval=1h&by=agent", "/api/service-levels"} {
		if got := getStatus(t, c, base+path, "", ""); got != 401 {
			t.Errorf("%s anonymous: %d, want 401", path, got)
		}
		if got := getStatus(t, c, base+path, "1001", "pass1001"); got != 403 {
			t.Errorf("%s as agent 1001: %d, want 403", path, got)
		}
		if got := getStatus(t, c, base+path, "9001", "pass9001"); got != 200 {
			t.Errorf("%s as supervisor: %d, want 200", path, got)
		}
	}
	// A supervisor's desktop session token works too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sup, err := apitest.Dial(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	r, err := sup.Login(ctx, "9001", "pass9001", "")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Token string `json:"token"`
	}
	if err := r.Decode(&res); err != nil || res.Token == "" {
		t.Fatalf("no token: %v", err)
	}
	if got := getStatus(t, c, base+"/api/service-levels?token="+res.Token, "", ""); got != 200 {
		t.Errorf("service levels with a supervisor token: %d", got)
	}
}

// TestSlowClientsCut: 300 TCP SIP connections holding half a message and
// 300 WebSocket handshakes stalled half-way through their headers are all
// closed at their deadlines, while a caller hears the demo's greeting, a
// desktop signs in and the supervisor's API answers.
func TestSlowClientsCut(t *testing.T) {
	t.Parallel()
	d := startDemo(t, func(c *config.Config) {
		c.HTTP.ReadHeaderTimeout = config.Duration(2 * time.Second)
		c.SIP.FirstMessageTimeout = config.Duration(2 * time.Second)
	})
	addr := d.e.HTTPAddr()
	var conns []net.Conn
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("http connection %d: %v", i, err)
		}
		_, _ = c.Write([]byte("GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-"))
		conns = append(conns, c)
		s, err := net.Dial("tcp", d.e.sip.TCPAddr())
		if err != nil {
			t.Fatalf("sip connection %d: %v", i, err)
		}
		_, _ = s.Write([]byte("INVITE sip:10010@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-slow\r\nFrom: <sip"))
		conns = append(conns, s)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller := d.dial(t, ctx, "13800000005", "10010", 3*time.Second)
	caller.waitAudio(50) // a second of the greeting
	d.desk(t, ctx, "1001")
	if c := getStatus(t, httpFrom("127.0.0.1", nil), "http://"+addr+"/api/agents", "9001", "pass9001"); c != 200 {
		t.Fatalf("API during the attack: %d", c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	cut := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			// The server answers 408 or just closes; either way the read ends
			// before our own deadline.
			_, err := io.ReadAll(bufio.NewReader(c))
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				mu.Lock()
				cut++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if cut != len(conns) {
		t.Fatalf("%d of %d stalled connections closed by the server", cut, len(conns))
	}
	if r := caller.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: sipp exit %d\n%s", r.ExitCode, r.Output)
	}
	if n := d.e.sip.OpenConns(); n != 0 {
		t.Fatalf("%d SIP stream connections still open", n)
	}
}

// TestHTTPSAndWSS: with http.tls_cert/tls_key the desktop is served over
// HTTPS and signs in over wss:, and the page's script picks wss: by itself.
func TestHTTPSAndWSS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	pair := ca.Server("desk")
	d := startDemo(t, func(c *config.Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = pair.Cert, pair.Key })
	tlsConf := &tls.Config{RootCAs: ca.Pool}
	client := httpFrom("127.0.0.1", tlsConf)
	base := "https://" + d.e.HTTPAddr()
	if c := getStatus(t, client, base+"/", "", ""); c != 200 {
		t.Fatalf("desktop page over https: %d", c)
	}
	resp, err := client.Get(base + "/app.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(js), `location.protocol === "https:" ? "wss://"`) {
		t.Fatal("the page does not pick wss: over https")
	}
	// Plain HTTP on the same port is refused.
	if _, err := httpFrom("127.0.0.1", nil).Get("http://" + d.e.HTTPAddr() + "/"); err == nil {
		if resp, _ := http.Get("http://" + d.e.HTTPAddr() + "/"); resp != nil && resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the HTTPS port")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := apitest.DialWith(ctx, "wss://"+d.e.HTTPAddr()+"/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "1001", "pass1001", ""); err != nil {
		t.Fatalf("desktop login over wss: %v", err)
	}
	// SIGHUP: a renewed certificate is picked up.
	tlstest.Install(t, ca.Server("desk-renewed"), pair)
	if err := d.e.ReloadCertificates(); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", d.e.HTTPAddr(), tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "desk-renewed" {
		t.Fatalf("after reload: %q", cn)
	}
}

// TestHashedCredentials: an agent configured with password_hash (bcrypt)
// and sip_ha1 instead of a password signs in on the desktop and registers
// its phone with the password neither of them contains.
func TestHashedCredentials(t *testing.T) {
	t.Parallel()
	hash, err := agentapi.HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, func(c *config.Config) {
		for i := range c.Agents {
			if c.Agents[i].ID == "1001" {
				c.Agents[i].Password, c.Agents[i].PasswordHash = "", hash
				c.Agents[i].SIPHA1 = sip.HA1("1001", c.SIP.Realm, "s3cret")
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := apitest.Dial(ctx, "http://"+d.e.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "1001", "s3cret", ""); err != nil {
		t.Fatalf("desktop login with the hashed password: %v", err)
	}
	sipptest.RegisterPhone(t, d.e.SIPAddr(), "1001", "s3cret", sipptest.FreeUDPPort(t), 60)
	if !d.e.sip.Registrar().Registered("1001") {
		t.Fatal("phone not registered with sip_ha1")
	}
	// Nothing kept in memory holds the clear password of the others either.
	p := d.e.plan.Load()
	for id, a := range p.agents {
		if a.Password != "" || !agentapi.ValidHash(a.PasswordHash) {
			t.Fatalf("agent %s: clear password kept or no hash", id)
		}
	}
	for _, a := range p.cfg.Agents {
		if a.Password != "" {
			t.Fatalf("agent %s: clear password kept in the configuration", a.ID)
		}
	}
}
