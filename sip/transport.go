package sip

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Listeners and transports: the sockets the server binds, the deadlines
// and caps every stream connection (TCP, TLS) lives under, and the TLS
// certificates (reloadable).
//
// A stream connection must complete its first SIP message (for TLS: the
// handshake and the first message) within FirstMessageTimeout, and is cut
// after IdleTimeout without a byte; a source may hold MaxConnsPerSource
// connections (configured trunks are exempt) and the server MaxConns in
// all. Connections over a cap, or from a banned source, are closed at once.

// Defaults for the stream transports.
const (
	DefaultFirstMessageTimeout = 10 * time.Second
	DefaultIdleTimeout         = 15 * time.Minute
	DefaultMaxConnsPerSource   = 32
	DefaultMaxConns            = 10000
)

func (s *Server) closeListeners() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
}

// UDPAddr is the bound UDP address ("" when disabled).
func (s *Server) UDPAddr() string {
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

// TCPAddr is the bound TCP address ("" when disabled).
func (s *Server) TCPAddr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// TLSAddr is the bound SIP-over-TLS address ("" when disabled).
func (s *Server) TLSAddr() string {
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// OpenConns is the number of stream (TCP and TLS) connections open now.
func (s *Server) OpenConns() int { return int(s.conns.total.Load()) }

// certStore holds the server certificate, swapped whole on reload.
type certStore struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func (c *certStore) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("sip: tls certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// ReloadTLS re-reads the TLS certificate and key (SIGHUP). On error the
// certificate in use stays.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return nil
	}
	if err := s.certs.load(); err != nil {
		return err
	}
	s.log.Info("sip: tls certificate reloaded", "cert", s.certs.certFile)
	return nil
}

// serverTLS is the TLS configuration of the SIP-over-TLS listener.
func (s *Server) serverTLS() (*tls.Config, error) {
	s.certs = &certStore{certFile: s.cfg.TLSCert, keyFile: s.cfg.TLSKey}
	if err := s.certs.load(); err != nil {
		return nil, err
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certs.cert.Load(), nil
		},
	}
	if s.cfg.TLSClientCA != "" {
		pool, err := loadPool(s.cfg.TLSClientCA)
		if err != nil {
			return nil, err
		}
		// Phones present no certificate; trunks that must (Trunk.TLSName)
		// are checked at admission.
		conf.ClientCAs, conf.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return conf, nil
}

// clientTLS is used when we dial TLS (outbound trunks, phones over TLS).
func (s *Server) clientTLS() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSRootCA != "" {
		pool, err := loadPool(s.cfg.TLSRootCA)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	}
	if s.certs != nil {
		// Trunks that check client certificates see ours.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.certs.cert.Load(), nil
		}
	}
	return conf, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sip: tls CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("sip: tls CA %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// connTable counts open stream connections per source.
type connTable struct {
	mu       sync.Mutex
	bySource map[netip.Addr]int
	total    atomic.Int64
	refused  atomic.Int64
	timedOut atomic.Int64
	// peers maps a TLS connection's remote address to the names of its
	// verified client certificate (for trunk admission).
	peers sync.Map
}

// edgeListener applies the caps and wraps accepted connections.
type edgeListener struct {
	net.Listener
	s   *Server
	tls *tls.Config // nil for plain TCP
}

func (l *edgeListener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, ok := l.s.admitConn(raw, l.tls)
		if ok {
			return c, nil
		}
	}
}

// admitConn checks a new connection against bans and caps.
func (s *Server) admitConn(raw net.Conn, tlsConf *tls.Config) (net.Conn, bool) {
	ap, err := netip.ParseAddrPort(raw.RemoteAddr().String())
	if err != nil {
		raw.Close()
		return nil, false
	}
	src := ap.Addr().Unmap()
	t := &s.conns
	if s.guard.Banned(src) {
		t.refused.Add(1)
		raw.Close()
		return nil, false
	}
	t.mu.Lock()
	perSource := t.bySource[src]
	if int(t.total.Load()) >= s.cfg.MaxConns || (perSource >= s.cfg.MaxConnsPerSource && !s.isTrunkSource(src)) {
		t.mu.Unlock()
		t.refused.Add(1)
		s.log.Debug("sip: connection refused over the cap", "source", src, "open_from_source", perSource)
		raw.Close()
		return nil, false
	}
	t.bySource[src] = perSource + 1
	t.total.Add(1)
	t.mu.Unlock()
	var c net.Conn = raw
	if tlsConf != nil {
		c = tls.Server(raw, tlsConf)
	}
	e := &edgeConn{Conn: c, s: s, src: src, remote: raw.RemoteAddr().String(), first: true,
		idle: s.cfg.IdleTimeout, firstBy: time.Now().Add(s.cfg.FirstMessageTimeout)}
	return e, true
}

func (s *Server) isTrunkSource(a netip.Addr) bool {
	for _, t := range s.trunkList() {
		for _, p := range t.Sources {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// edgeConn bounds how long a stream connection may stall: until its first
// SIP message is complete (end of headers seen) the deadline is fixed at
// accept + FirstMessageTimeout, so a connection that trickles bytes cannot
// hold a socket; afterwards each read may wait IdleTimeout.
type edgeConn struct {
	net.Conn
	s       *Server
	src     netip.Addr
	remote  string
	idle    time.Duration
	firstBy time.Time
	first   bool    // first message not yet complete (read goroutine only)
	tail    [3]byte // last bytes seen, for a boundary split across reads
	once    sync.Once
}

var headerEnd = []byte("\r\n\r\n")

func (c *edgeConn) Read(b []byte) (int, error) {
	deadline := time.Now().Add(c.idle)
	if c.first {
		deadline = c.firstBy
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if c.first && n > 0 {
		buf := append(c.tail[:], b[:n]...)
		if bytes.Contains(buf, headerEnd) {
			c.first = false
			c.notePeer()
		}
		copy(c.tail[:], buf[len(buf)-3:])
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.s.conns.timedOut.Add(1)
		c.s.log.Debug("sip: stalled connection cut", "source", c.remote, "first_message", c.first)
	}
	return n, err
}

// notePeer records a TLS client's verified certificate names.
func (c *edgeConn) notePeer() {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return
	}
	leaf := st.PeerCertificates[0]
	names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	c.s.conns.peers.Store(c.remote, names)
}

func (c *edgeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		t := &c.s.conns
		t.mu.Lock()
		if t.bySource[c.src] <= 1 {
			delete(t.bySource, c.src)
		} else {
			t.bySource[c.src]--
		}
		t.mu.Unlock()
		t.total.Add(-1)
		t.peers.Delete(c.remote)
	})
	return err
}

// tlsPeerNames returns the verified certificate names of the TLS
// connection a request came over (nil when none).
func (s *Server) tlsPeerNames(source string) []string {
	v, ok := s.conns.peers.Load(source)
	if !ok {
		return nil
	}
	return v.([]string)
}

// RefusedConns counts stream connections refused over a cap or from a
// banned source.
func (s *Server) RefusedConns() int64 { return s.conns.refused.Load() }
