package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
	"github.com/hotlinecc/hotline/sip/guard"
)

// Trunk is a carrier or PBX allowed to send calls without authenticating.
type Trunk struct {
	Name    string
	Sources []netip.Prefix
	// Outbound is host:port where calls to external numbers go; empty means
	// this trunk only delivers calls to us.
	Outbound string
	// TLSName, if set, admits this trunk's calls only over TLS with a client
	// certificate (verified against Config.TLSClientCA) naming it.
	TLSName string
	// SRTP is the trunk's media.srtp policy (optional by default).
	SRTP sdp.SRTPPolicy
	// OwnRTPPort gives this trunk's calls a port per leg even when the
	// engine's legs share ports (a peer sending several calls from one
	// address and port without a=ssrc).
	OwnRTPPort bool
}

// Config is what the signalling layer needs to run.
type Config struct {
	UDPAddr string // e.g. "127.0.0.1:5060"; empty disables UDP
	TCPAddr string // empty disables TCP
	// TLSAddr enables SIP over TLS (needs TLSCert and TLSKey, PEM files,
	// re-read by ReloadTLS). TLSClientCA, if set, verifies client
	// certificates (trunks with TLSName); TLSRootCA is trusted when we dial
	// TLS (empty: the system roots).
	TLSAddr, TLSCert, TLSKey, TLSClientCA, TLSRootCA string
	// Stream connection limits (zero: the Default* values).
	FirstMessageTimeout, IdleTimeout time.Duration
	MaxConnsPerSource, MaxConns      int
	Realm                            string
	// MediaIP is the address written into SDP and bound for RTP.
	MediaIP netip.Addr
	Ports   *media.PortAllocator
	Trunks  []Trunk
	// Codecs in order of preference; default PCMU then PCMA.
	Codecs []media.Codec
	// Credentials returns a phone user's credential.
	Credentials func(user string) (Credential, bool)
	Logger      *slog.Logger
	UserAgent   string
	// Node names this engine node in the bindings it accepts ("" allowed).
	Node string
	// Directory, if set, shares registrations with other nodes so Dial can
	// ring a phone registered through any of them; nil means a single node.
	Directory Directory
	// MinSE is the shortest session-timer interval (RFC 4028) a caller may
	// ask for; shorter ones get 422. Default DefaultMinSE.
	MinSE time.Duration
	// Latch is how RTP peers are learnt: media.LatchStrict (the default:
	// only the SDP address or the signalling source, no takeover) or
	// media.LatchLoose for media relays that send from elsewhere.
	Latch media.LatchMode
	// Guard counts failed digests and holds bans; share one with the HTTP
	// side. nil gets a guard of its own with the defaults (trunk sources
	// exempt from the rate cap).
	Guard *guard.Guard
	// NonceSecret, shared by the nodes of a centre, lets a phone answer one
	// node's challenge on another; empty means a random secret per process
	// (phones then get 401 stale=true after a restart and re-authenticate).
	NonceSecret string
}

// Origin says who sent a call.
type Origin struct {
	Trunk  string // trunk name when the call came from a trunk
	User   string // authenticated phone user otherwise
	Source string // host:port the INVITE came from
	// External is true when the origin may reach external destinations.
	External bool
	srtp     sdp.SRTPPolicy
	ownRTP   bool
}

// CallInfo describes a new inbound call.
type CallInfo struct {
	CallID     string
	Caller     string // user part of From
	CallerName string
	Dialled    string // user part of the request URI
	Origin     Origin
	Transport  string
}

// Handler decides what inbound calls are for and runs them.
type Handler interface {
	// Admit returns 0 to accept a call, or the SIP status to refuse it with
	// (404 for an unknown number, 403 for a destination the origin may not reach).
	Admit(info CallInfo) int
	// Serve runs an accepted call. The leg is not answered yet. ctx ends when
	// the leg ends or the server stops; when Serve returns the leg is hung up.
	Serve(ctx context.Context, leg *Leg)
}

// Server is the engine's SIP user agent: listeners, registrar and legs.
type Server struct {
	cfg       Config
	log       *slog.Logger
	handler   Handler
	auth      *authenticator
	malformed *malformedLog
	guard     *guard.Guard
	reg       *Registrar
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	dialogSrv *sipgo.DialogServerCache
	dialogCli *sipgo.DialogClientCache
	contact   sipmsg.ContactHeader
	// contactTLS is our Contact in dialogs signalled over TLS.
	contactTLS sipmsg.ContactHeader
	udp        net.PacketConn
	tcp        net.Listener
	tlsLn      net.Listener
	certs      *certStore
	conns      connTable

	legs    sync.Map // call-id -> *Leg
	active  atomic.Int64
	running atomic.Bool
	wg      sync.WaitGroup
	// bg owns the waits sipgo makes with no context (a 2xx's retransmissions
	// until the ACK, a final response's until its ACK); they end when the
	// transaction layer closes, so Run waits for them after closing it.
	bg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	// drainRetry is the Retry-After (s) of drain mode, 0 when serving
	// (drain.go); responses counts the responses sent (responses.go).
	drainRetry atomic.Int64
	responses  responseCounts
	trunks     atomic.Pointer[[]Trunk] // reload.go

	// Counters for tests and metrics.
	Stats Stats
}

// Stats counts signalling events.
type Stats struct {
	InvitesIn      atomic.Int64
	Rejected       atomic.Int64
	Registrations  atomic.Int64
	AuthFailures   atomic.Int64
	LegsOpened     atomic.Int64
	LegsClosed     atomic.Int64
	MalformedSDP   atomic.Int64
	CodecMismatch  atomic.Int64
	ReinvitesIn    atomic.Int64
	InfoDTMFIn     atomic.Int64
	OptionsIn      atomic.Int64
	ByeUnknownIn   atomic.Int64
	CancelsIn      atomic.Int64
	Banned         atomic.Int64 // requests refused because the source is banned
	RateLimited    atomic.Int64 // INVITE/REGISTER over the per-source rate
	DialsOut       atomic.Int64
	DialsAnswered  atomic.Int64
	DialsFailed    atomic.Int64
	ListenFailures atomic.Int64
	Malformed      atomic.Int64 // unparsable or rule-breaking messages dropped or refused
	// LateAnswers counts 2xx answers to INVITEs we had given up on (CANCEL
	// crossed, a forked contact lost): each was ACKed and BYEd.
	LateAnswers atomic.Int64
	// SessionsExpired counts legs ended by their RFC 4028 session timer.
	SessionsExpired atomic.Int64
}

// NewServer binds the listeners (so a port 0 becomes a real port) and
// prepares the user agent; Run serves.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Realm == "" {
		cfg.Realm = "hotline"
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if cfg.Ports == nil {
		return nil, errors.New("sip: no RTP port allocator")
	}
	if !cfg.MediaIP.IsValid() {
		return nil, errors.New("sip: no media IP")
	}
	if cfg.Credentials == nil {
		cfg.Credentials = func(string) (Credential, bool) { return Credential{}, false }
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Hotline"
	}
	if cfg.MinSE <= 0 {
		cfg.MinSE = DefaultMinSE
	}
	if cfg.FirstMessageTimeout <= 0 {
		cfg.FirstMessageTimeout = DefaultFirstMessageTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConnsPerSource <= 0 {
		cfg.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Guard == nil {
		var exempt []netip.Prefix
		for _, t := range cfg.Trunks {
			exempt = append(exempt, t.Sources...)
		}
		cfg.Guard = guard.New(guard.Config{Exempt: exempt, Logger: cfg.Logger})
	}
	s := &Server{cfg: cfg, log: cfg.Logger, handler: h, auth: newAuthenticator(cfg.Realm, []byte(cfg.NonceSecret)), reg: NewRegistrar(), guard: cfg.Guard}
	// The server's context exists from the start (legs and dials derive
	// from it); Run ties it to its own and marks the server running.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reg.node = cfg.Node
	s.conns.bySource = map[netip.Addr]int{}

	var host string
	var port int
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr)
		if err != nil {
			return nil, fmt.Errorf("sip: listen udp %s: %w", cfg.UDPAddr, err)
		}
		s.udp = pc
		growBuffers(pc, udpBuffer)
		ap := netip.MustParseAddrPort(pc.LocalAddr().String())
		host, port = ap.Addr().String(), int(ap.Port())
	}
	if cfg.TCPAddr != "" {
		tcpAddr := cfg.TCPAddr
		// Let TCP follow a port-0 UDP bind so a test gets one SIP port for both.
		if strings.HasSuffix(tcpAddr, ":0") && port != 0 {
			tcpAddr = strings.TrimSuffix(tcpAddr, ":0") + ":" + strconv.Itoa(port)
		}
		l, err := net.Listen("tcp", tcpAddr)
		if err != nil && tcpAddr != cfg.TCPAddr {
			l, err = net.Listen("tcp", cfg.TCPAddr)
		}
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("sip: listen tcp %s: %w", cfg.TCPAddr, err)
		}
		s.tcp = &edgeListener{Listener: l, s: s}
		if host == "" {
			ap := netip.MustParseAddrPort(l.Addr().String())
			host, port = ap.Addr().String(), int(ap.Port())
		}
	}
	if host == "" {
		return nil, errors.New("sip: neither UDP nor TCP configured")
	}
	if cfg.TLSAddr != "" {
		conf, err := s.serverTLS()
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		l, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("sip: listen tls %s: %w", cfg.TLSAddr, err)
		}
		s.tlsLn = &edgeListener{Listener: l, s: s, tls: conf}
	}
	clientTLS, err := s.clientTLS()
	if err != nil {
		s.closeListeners()
		return nil, err
	}

	s.malformed = &malformedLog{log: s.log, count: &s.Stats.Malformed}
	sipgoLog := slog.New(&sipgoHandler{next: s.log.Handler(), m: s.malformed})
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(host), sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(sipgoLog), sipmsg.WithTransportLayerReadFilter(s.readFilter)),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(sipgoLog),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(s.onStrayResponse)))
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.ua = ua
	s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(port), sipgo.WithClientLogger(sipgoLog))
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	s.contact = sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "hotline", Host: host, Port: port}}
	s.contactTLS = s.contact
	if s.tlsLn != nil {
		ap := netip.MustParseAddrPort(s.tlsLn.Addr().String())
		s.contactTLS.Address.Port = int(ap.Port())
		s.contactTLS.Address.UriParams = sipmsg.NewParams()
		s.contactTLS.Address.UriParams.Add("transport", "tls")
	}
	s.dialogSrv = sipgo.NewDialogServerCache(s.client, s.contact)
	s.dialogCli = sipgo.NewDialogClientCache(s.client, s.contact)

	s.srv.OnInvite(s.validated(s.onInvite))
	s.srv.OnAck(s.validated(s.onAck))
	s.srv.OnBye(s.validated(s.onBye))
	s.srv.OnCancel(s.validated(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		// A CANCEL matching a live INVITE is answered by the transaction layer;
		// one that reaches us matched nothing.
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}))
	s.srv.OnRegister(s.validated(s.onRegister))
	s.srv.OnOptions(s.validated(s.onOptions))
	s.srv.OnInfo(s.validated(s.onInfo))
	s.srv.OnNoRoute(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		s.respond(tx, req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", sipmsg.NewHeader("Allow", allowed))
	})
	return s, nil
}

const allowed = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO"

// Registrar returns the registrar of phones.
func (s *Server) Registrar() *Registrar { return s.reg }

// ActiveLegs is the number of legs not yet ended.
func (s *Server) ActiveLegs() int { return int(s.active.Load()) }

// Run serves until ctx is done, then ends every leg and waits for them.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	s.running.Store(true)
	defer s.running.Store(false)
	errc := make(chan error, 3)
	if s.udp != nil {
		go func() { errc <- s.srv.ServeUDP(countingPacketConn{s.udp, &s.responses}) }()
	}
	if s.tcp != nil {
		go func() { errc <- s.srv.ServeTCP(countingListener{s.tcp, &s.responses}) }()
	}
	if s.tlsLn != nil {
		go func() { errc <- s.srv.ServeTLS(countingListener{s.tlsLn, &s.responses}) }()
	}
	var err error
	select {
	case <-s.ctx.Done():
	case err = <-errc:
		if err != nil {
			err = fmt.Errorf("sip: serve: %w", err)
		}
	}
	s.cancel()
	// Every leg's Serve sees ctx done and hangs up; give BYEs a moment to go out.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.log.Warn("sip: legs still open at shutdown", "active", s.active.Load())
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1) // who holds the legs
		}
	}
	s.srv.Close()
	s.ua.Close()
	s.closeListeners()
	s.bg.Wait()
	return err
}

func (s *Server) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, reason string, hdrs ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond", "code", code, "err", err)
	}
}

// contactFor is our Contact for a dialog, over TLS or not.
func (s *Server) contactFor(secure bool) *sipmsg.ContactHeader {
	if secure && s.tlsLn != nil {
		return &s.contactTLS
	}
	return &s.contact
}
