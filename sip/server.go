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
)

// Trunk is a carrier or PBX allowed to send calls without authenticating.
type Trunk struct {
	Name    string
	Sources []netip.Prefix
	// Outbound is host:port where calls to external numbers go; empty means
	// this trunk only delivers calls to us.
	Outbound string
}

// Config is what the signalling layer needs to run.
type Config struct {
	UDPAddr string // e.g. "127.0.0.1:5060"; empty disables UDP
	TCPAddr string // empty disables TCP
	Realm   string
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
}

// Origin says who sent a call.
type Origin struct {
	Trunk  string // trunk name when the call came from a trunk
	User   string // authenticated phone user otherwise
	Source string // host:port the INVITE came from
	// External is true when the origin may reach external destinations.
	External bool
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
	reg       *Registrar
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	dialogSrv *sipgo.DialogServerCache
	dialogCli *sipgo.DialogClientCache
	contact   sipmsg.ContactHeader
	udp       net.PacketConn
	tcp       net.Listener

	legs    sync.Map // call-id -> *Leg
	active  atomic.Int64
	running atomic.Bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc

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
	InvitesIn     atomic.Int64
	Rejected      atomic.Int64
	Registrations atomic.Int64
	AuthFailures  atomic.Int64
	LegsOpened    atomic.Int64
	LegsClosed    atomic.Int64
	MalformedSDP  atomic.Int64
	CodecMismatch atomic.Int64
	ReinvitesIn   atomic.Int64
	InfoDTMFIn    atomic.Int64
	OptionsIn     atomic.Int64
	ByeUnknownIn  atomic.Int64
	CancelsIn     atomic.Int64
	DialsOut      atomic.Int64
	DialsAnswered atomic.Int64
	DialsFailed   atomic.Int64
	// LateAnswers counts 2xx answers to INVITEs we had given up on (CANCEL
	// crossed, a forked contact lost): each was ACKed and BYEd.
	LateAnswers atomic.Int64
	// SessionsExpired counts legs ended by their RFC 4028 session timer.
	SessionsExpired atomic.Int64
	ListenFailures  atomic.Int64
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
	s := &Server{cfg: cfg, log: cfg.Logger, handler: h, auth: newAuthenticator(cfg.Realm), reg: NewRegistrar()}
	// The server's context exists from the start (legs and dials derive
	// from it); Run ties it to its own and marks the server running.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reg.node = cfg.Node

	var host string
	var port int
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr)
		if err != nil {
			return nil, fmt.Errorf("sip: listen udp %s: %w", cfg.UDPAddr, err)
		}
		s.udp = pc
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
		s.tcp = l
		if host == "" {
			ap := netip.MustParseAddrPort(l.Addr().String())
			host, port = ap.Addr().String(), int(ap.Port())
		}
	}
	if host == "" {
		return nil, errors.New("sip: neither UDP nor TCP configured")
	}

	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerUnhandledResponseHandler(s.onStrayResponse)))
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.ua = ua
	s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(s.log))
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(port), sipgo.WithClientLogger(s.log))
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	s.contact = sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "hotline", Host: host, Port: port}}
	s.dialogSrv = sipgo.NewDialogServerCache(s.client, s.contact)
	s.dialogCli = sipgo.NewDialogClientCache(s.client, s.contact)

	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.onBye)
	s.srv.OnCancel(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		// A CANCEL matching a live INVITE is answered by the transaction layer;
		// one that reaches us matched nothing.
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	})
	s.srv.OnRegister(s.onRegister)
	s.srv.OnOptions(s.onOptions)
	s.srv.OnInfo(s.onInfo)
	s.srv.OnNoRoute(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		s.respond(tx, req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", sipmsg.NewHeader("Allow", allowed))
	})
	return s, nil
}

const allowed = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO"

func (s *Server) closeListeners() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
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
	errc := make(chan error, 2)
	if s.udp != nil {
		go func() { errc <- s.srv.ServeUDP(countingPacketConn{s.udp, &s.responses}) }()
	}
	if s.tcp != nil {
		go func() { errc <- s.srv.ServeTCP(countingListener{s.tcp, &s.responses}) }()
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

// admit decides who sent an INVITE: a trunk by source address, or a phone by
// digest. It answers the INVITE itself when refusing.
func (s *Server) admit(req *sipmsg.Request, tx sipmsg.ServerTransaction) (Origin, bool) {
	src := req.Source()
	o := Origin{Source: src}
	if ap, err := netip.ParseAddrPort(src); err == nil {
		for _, t := range s.trunkList() {
			for _, p := range t.Sources {
				if p.Contains(ap.Addr().Unmap()) {
					o.Trunk = t.Name
					o.External = t.Outbound != ""
					return o, true
				}
			}
		}
	}
	hdr := ""
	if h := req.GetHeader("Authorization"); h != nil {
		hdr = h.Value()
	} else if h := req.GetHeader("Proxy-Authorization"); h != nil {
		hdr = h.Value()
	}
	cred, err := s.auth.verify(hdr, string(req.Method), s.cfg.Credentials)
	switch {
	case err == nil:
		o.User, o.External = cred.User, cred.External
		return o, true
	case errors.Is(err, errNoCredentials), errors.Is(err, errStale):
		s.respond(tx, req, sipmsg.StatusUnauthorized, "Unauthorized",
			sipmsg.NewHeader("WWW-Authenticate", s.auth.challenge(errors.Is(err, errStale))))
	default:
		s.Stats.AuthFailures.Add(1)
		s.log.Info("sip: authentication failed", "method", req.Method, "source", src, "err", err)
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
	}
	s.Stats.Rejected.Add(1)
	return o, false
}

func (s *Server) onRegister(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	hdr := ""
	if h := req.GetHeader("Authorization"); h != nil {
		hdr = h.Value()
	}
	cred, err := s.auth.verify(hdr, "REGISTER", s.cfg.Credentials)
	if err != nil {
		if errors.Is(err, errNoCredentials) || errors.Is(err, errStale) {
			s.respond(tx, req, sipmsg.StatusUnauthorized, "Unauthorized",
				sipmsg.NewHeader("WWW-Authenticate", s.auth.challenge(errors.Is(err, errStale))))
			return
		}
		s.Stats.AuthFailures.Add(1)
		s.log.Info("sip: registration refused", "source", req.Source(), "err", err)
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
		return
	}
	// A phone may register only its own address of record.
	if to := req.To(); to == nil || to.Address.User != cred.User {
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
		return
	}
	bindings, _ := s.reg.update(cred.User, req, req.Source())
	s.Stats.Registrations.Add(1)
	// Before the 200 OK: once the phone hears it is registered, every node can ring it.
	s.publish(cred.User)
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	now := time.Now()
	for _, b := range bindings {
		c := &sipmsg.ContactHeader{Address: b.Contact}
		c.Params = sipmsg.NewParams()
		c.Params.Add("expires", strconv.Itoa(int(b.Expires.Sub(now).Round(time.Second).Seconds())))
		res.AppendHeader(c)
	}
	res.AppendHeader(sipmsg.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: register respond", "err", err)
	}
	s.log.Debug("sip: registered", "user", cred.User, "contacts", len(bindings))
}

func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.Stats.OptionsIn.Add(1)
	if s.refuseDraining(req, tx) {
		return
	}
	s.respond(tx, req, sipmsg.StatusOK, "OK",
		sipmsg.NewHeader("Allow", allowed), sipmsg.NewHeader("Accept", "application/sdp"))
}

func (s *Server) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if err := s.dialogSrv.ReadAck(req, tx); err != nil {
		// ACKs of re-INVITEs and of dialogs already gone need nothing from us.
		s.log.Debug("sip: ack", "err", err)
	}
}

func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// A dialog already ended (the leg waits only for its owner to release
	// it) answers a new BYE like one that never existed.
	if leg := s.legFor(req); leg != nil {
		leg.remoteBye(req, tx)
		return
	}
	s.Stats.ByeUnknownIn.Add(1)
	s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// legFor finds the leg an in-dialog request belongs to.
func (s *Server) legFor(req *sipmsg.Request) *Leg {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	v, ok := s.legs.Load(cid.Value())
	if !ok {
		return nil
	}
	leg := v.(*Leg)
	if !leg.matches(req) {
		return nil
	}
	return leg
}

func (s *Server) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	leg := s.legFor(req)
	if leg == nil {
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(h.Value())
	}
	switch {
	case strings.HasPrefix(ct, "application/dtmf-relay"), strings.HasPrefix(ct, "application/dtmf"):
		d, ok := parseInfoDTMF(string(req.Body()))
		if !ok {
			s.respond(tx, req, sipmsg.StatusBadRequest, "Bad DTMF Body")
			return
		}
		s.Stats.InfoDTMFIn.Add(1)
		leg.media.InjectDTMF(d)
		s.respond(tx, req, sipmsg.StatusOK, "OK")
	case len(req.Body()) == 0:
		s.respond(tx, req, sipmsg.StatusOK, "OK") // keep-alive style INFO
	default:
		s.respond(tx, req, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type")
	}
}

// parseInfoDTMF reads "Signal=5\r\nDuration=160" (dtmf-relay) or a bare digit (application/dtmf).
func parseInfoDTMF(body string) (rune, bool) {
	body = strings.TrimSpace(body)
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(k), "signal") {
			body = strings.TrimSpace(v)
			break
		}
	}
	switch {
	case body == "10":
		return '*', true
	case body == "11":
		return '#', true
	case len(body) != 1:
		return 0, false
	}
	d := rune(body[0])
	if (d >= '0' && d <= '9') || d == '*' || d == '#' || (d >= 'A' && d <= 'D') {
		return d, true
	}
	return 0, false
}

func (s *Server) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// In-dialog INVITE: hold, unhold, or a new media address.
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			if leg := s.legFor(req); leg != nil {
				s.Stats.ReinvitesIn.Add(1)
				leg.reinvite(req, tx)
				return
			}
			s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
	}
	s.Stats.InvitesIn.Add(1)
	if !s.running.Load() || s.ctx.Err() != nil {
		s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Shutting Down")
		return
	}
	if s.refuseDraining(req, tx) {
		s.Stats.Rejected.Add(1)
		return
	}
	origin, ok := s.admit(req, tx)
	if !ok {
		return
	}
	info := CallInfo{Origin: origin, Transport: req.Transport(), Dialled: req.Recipient.User}
	if h := req.CallID(); h != nil {
		info.CallID = h.Value()
	}
	if f := req.From(); f != nil {
		info.Caller, info.CallerName = f.Address.User, f.DisplayName
	}
	if info.CallID == "" || req.Contact() == nil {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, sipmsg.StatusBadRequest, "Missing Call-ID or Contact")
		return
	}
	if _, dup := s.legs.Load(info.CallID); dup {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, sipmsg.StatusLoopDetected, "Loop Detected")
		return
	}
	// SDP first: a call whose media we cannot carry must not reach a flow.
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		s.Stats.Rejected.Add(1)
		if errors.Is(err, sdp.ErrNoAudio) {
			s.Stats.CodecMismatch.Add(1)
			s.respond(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		s.Stats.MalformedSDP.Add(1)
		s.log.Info("sip: bad SDP in INVITE", "call_id", info.CallID, "source", origin.Source, "err", err)
		s.respond(tx, req, sipmsg.StatusBadRequest, "Bad SDP")
		return
	}
	ans, err := sdp.Negotiate(offer, s.formats())
	if err != nil {
		s.Stats.Rejected.Add(1)
		s.Stats.CodecMismatch.Add(1)
		s.respond(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
			sipmsg.NewHeader("Warning", `304 hotline "Media type not available"`))
		return
	}
	session, sessionHdrs, code := s.negotiateSession(req)
	if code != 0 {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, code, "Session Interval Too Small", sessionHdrs...)
		return
	}
	if code := s.handler.Admit(info); code != 0 {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, code, reasonPhrase(code))
		return
	}
	s.respond(tx, req, sipmsg.StatusTrying, "Trying")

	dss, err := s.dialogSrv.ReadInvite(req, tx)
	if err != nil {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, sipmsg.StatusBadRequest, "Bad Request")
		return
	}
	sess, err := media.NewSession(s.cfg.Ports, s.cfg.MediaIP, s.log)
	if err != nil {
		s.Stats.Rejected.Add(1)
		s.log.Warn("sip: no media port for call", "call_id", info.CallID, "err", err)
		_ = dss.Respond(sipmsg.StatusServiceUnavailable, "No Media Resources", nil)
		dss.Close()
		return
	}
	leg := s.newLeg(info.CallID, true, info, sess)
	leg.dss = dss
	leg.session, leg.sessionHdrs = session, sessionHdrs
	leg.offerCodec(ans)
	s.legs.Store(info.CallID, leg)
	tx.OnCancel(func(*sipmsg.Request) {
		s.Stats.CancelsIn.Add(1)
		leg.end("caller cancelled")
	})
	dss.OnState(func(st sipmsg.DialogState) {
		if st != sipmsg.DialogStateEnded {
			return
		}
		if !leg.Answered() {
			// Our own rejections set their cause first; otherwise only a CANCEL ends an unanswered dialog.
			leg.end("caller cancelled")
			return
		}
		leg.end("dialog ended")
	})
	sess.Start()
	defer leg.close()
	s.handler.Serve(leg.ctx, leg)
}

func (s *Server) formats() []sdp.Format {
	out := make([]sdp.Format, 0, len(s.cfg.Codecs))
	for _, c := range s.cfg.Codecs {
		out = append(out, sdp.Format{PT: c.PayloadType, Name: c.Name, Rate: c.ClockRate})
	}
	return out
}

func codecFor(f sdp.Format) media.Codec {
	switch strings.ToUpper(f.Name) {
	case "PCMA":
		return media.PCMA
	default:
		return media.PCMU
	}
}

func reasonPhrase(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 488:
		return "Not Acceptable Here"
	case 503:
		return "Service Unavailable"
	}
	return "Refused"
}
