package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
)

// Config configures the endpoint.
type Config struct {
	// SIP makes the legs (sip.Server.NewExternalLeg).
	SIP *sip.Server
	// IP is the engine's media address: the only ICE host candidate.
	IP netip.Addr
	// Port is the UDP port every browser leg shares (ICE demultiplexes by
	// username fragment); 0 picks a free one (tests).
	Port int
	// Codecs offered, in order of preference (default PCMU, PCMA).
	Codecs []media.Codec
	// Grace is how long a leg whose page went waits for the agent's page
	// to re-attach (default 10 s; negative: end at once).
	Grace time.Duration
	// ConnectTimeout bounds ICE + DTLS after an answer (default 10 s).
	ConnectTimeout time.Duration
	// ICEDisconnected and ICEFailed are pion's ICE timeouts: no check from
	// the browser for ICEFailed marks the leg's connection failed
	// (defaults 3 s and 6 s).
	ICEDisconnected, ICEFailed time.Duration
	Logger                     *slog.Logger
}

// Signal is one message between the engine and a page (PROTOCOL.md,
// "Browser phone"). Kind is the event's name after "webrtc.".
type Signal struct {
	Kind       string `json:"-"`
	Leg        string `json:"leg"`
	SDP        string `json:"sdp,omitempty"`
	Caller     string `json:"caller,omitempty"`
	CallerName string `json:"caller_name,omitempty"`
	// AutoAnswer: the page answers without ringing (the person asked for
	// this call: a supervisor's listen, a call placed from the desktop).
	AutoAnswer bool `json:"auto_answer,omitempty"`
	// Reattach: a call the page's phone already had (after a reload or a
	// lost connection); the page answers by itself.
	Reattach bool   `json:"reattach,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Page is a desktop connection that registered as its user's phone.
// Gone identifies it (two registrations from one connection are the same
// page) and is closed when the connection closes.
type Page struct {
	Push func(Signal) bool
	Gone <-chan struct{}
}

// DialRequest is a sip.DialRequest for a user's browser.
type DialRequest struct {
	sip.DialRequest
	AutoAnswer bool
}

// Errors the signalling requests return.
var (
	ErrUnknownLeg = errors.New("webrtc: no such leg for this user")
	ErrLegState   = errors.New("webrtc: not possible in the leg's state")
	ErrBadSDP     = errors.New("webrtc: unusable SDP")
)

// Endpoint is the engine's WebRTC side: the shared ICE socket, the pages
// registered as phones and the browser legs.
type Endpoint struct {
	cfg  Config
	log  *slog.Logger
	api  *pion.API
	conn *net.UDPConn
	mux  ice.UDPMux
	addr netip.AddrPort

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Counters is what the endpoint did (metrics).
	Counters Counters
	// grace is Config.Grace, changed by SetGrace (a configuration reload)
	// while legs run: read when a leg's grace starts.
	grace atomic.Int64

	mu     sync.Mutex
	closed bool
	pages  map[string]Page          // user → the page that is its phone
	legs   map[string]*browserLeg   // leg id → leg
	byUser map[string][]*browserLeg // user → its legs
}

// New binds the shared ICE socket and prepares the WebRTC stack.
func New(cfg Config) (*Endpoint, error) {
	if cfg.SIP == nil {
		return nil, errors.New("webrtc: no SIP server to make legs")
	}
	if !cfg.IP.IsValid() {
		return nil, errors.New("webrtc: no media address")
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if cfg.Grace == 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.ICEDisconnected <= 0 {
		cfg.ICEDisconnected = 3 * time.Second
	}
	if cfg.ICEFailed <= 0 {
		cfg.ICEFailed = 6 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ip := cfg.IP.Unmap()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(cfg.Port))))
	if err != nil {
		return nil, fmt.Errorf("webrtc: bind ICE port %d on %s: %w", cfg.Port, ip, err)
	}
	me := &pion.MediaEngine{}
	for _, c := range cfg.Codecs {
		if err := me.RegisterCodec(pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: "audio/" + c.Name, ClockRate: c.ClockRate, Channels: 1},
			PayloadType:        pion.PayloadType(c.PayloadType),
		}, pion.RTPCodecTypeAudio); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("webrtc: codec %s: %w", c.Name, err)
		}
	}
	if err := me.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 8000, SDPFmtpLine: "0-16"},
		PayloadType:        pion.PayloadType(media.DefaultDTMFPayloadType),
	}, pion.RTPCodecTypeAudio); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("webrtc: telephone-event: %w", err)
	}
	// Only RTCP sender and receiver reports (the browser's getStats then
	// has round-trip time and our loss and jitter); pion's defaults (NACK,
	// TWCC, stats) cost per packet and mean nothing for G.711 audio.
	ir := &interceptor.Registry{}
	if err := pion.ConfigureRTCPReports(ir); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("webrtc: rtcp reports: %w", err)
	}
	logs := pionLogs{cfg.Logger}
	mux := pion.NewICEUDPMux(logs.NewLogger("ice-mux"), conn)
	var se pion.SettingEngine
	se.LoggerFactory = logs
	se.SetLite(true)
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(ip.IsLoopback())
	// No mDNS: it would send multicast queries and hide the one address
	// the browser must reach.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if ip.Is4() {
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	} else {
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP6})
	}
	se.SetICETimeouts(cfg.ICEDisconnected, cfg.ICEFailed, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	e := &Endpoint{
		cfg: cfg, log: cfg.Logger, conn: conn, mux: mux,
		addr: netip.AddrPortFrom(ip, uint16(conn.LocalAddr().(*net.UDPAddr).Port)),
		api:  pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se), pion.WithInterceptorRegistry(ir)),
		ctx:  ctx, cancel: cancel,
		pages: map[string]Page{}, legs: map[string]*browserLeg{}, byUser: map[string][]*browserLeg{},
	}
	e.grace.Store(int64(cfg.Grace))
	return e, nil
}

// SetGrace changes the re-attach grace (0: the default 10 s; negative: end
// at once) for legs whose page goes from now on; a grace already running
// keeps its length.
func (e *Endpoint) SetGrace(d time.Duration) {
	if d == 0 {
		d = 10 * time.Second
	}
	e.grace.Store(int64(d))
}

// Grace is the re-attach grace in force.
func (e *Endpoint) Grace() time.Duration { return time.Duration(e.grace.Load()) }

const mimeTelephoneEvent = "audio/telephone-event"

// Counters count browser legs' fates since start.
type Counters struct {
	Answered   atomic.Uint64 // legs answered in a page
	Failed     atomic.Uint64 // rings that ended unanswered (declined, cancelled, page gone, ICE/DTLS not up)
	Detached   atomic.Uint64 // connected legs whose page or connection went
	Reattached atomic.Uint64 // detached legs a page took back within the grace
	Vanished   atomic.Uint64 // detached legs ended when the grace ran out
}

// Pages and Legs are how many pages are phones and how many legs are up
// (any state but ended).
func (e *Endpoint) Pages() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pages)
}

// Legs is the number of browser legs not yet ended.
func (e *Endpoint) Legs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.legs)
}

// Addr is the shared ICE address (the host candidate in every offer).
func (e *Endpoint) Addr() netip.AddrPort { return e.addr }

// Close ends every browser leg and releases the socket.
func (e *Endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	legs := make([]*browserLeg, 0, len(e.legs))
	for _, l := range e.legs {
		legs = append(legs, l)
	}
	e.mu.Unlock()
	for _, l := range legs {
		l.x.Leg().Close()
	}
	e.cancel()
	e.wg.Wait()
	_ = e.mux.Close()
	_ = e.conn.Close()
}

// go runs fn as one of the endpoint's goroutines (Close waits for them).
func (e *Endpoint) goOwned(fn func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn()
	}()
}

// Register makes pg its user's phone, replacing any earlier page; calls
// the earlier page carried (and calls waiting in their grace) are
// offered to pg to re-attach. It returns how many were.
func (e *Endpoint) Register(user string, pg Page) (int, error) {
	if pg.Push == nil || pg.Gone == nil {
		return 0, errors.New("webrtc: register: page without a connection")
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return 0, errors.New("webrtc: endpoint closed")
	}
	prev, had := e.pages[user]
	e.pages[user] = pg
	legs := append([]*browserLeg(nil), e.byUser[user]...)
	e.mu.Unlock()
	if !had || prev.Gone != pg.Gone {
		e.goOwned(func() {
			select {
			case <-pg.Gone:
				e.pageGone(user, pg)
			case <-e.ctx.Done():
			}
		})
	}
	n := 0
	for _, l := range legs {
		if l.reattach(pg) {
			n++
		}
	}
	return n, nil
}

// Unregister stops pg being its user's phone (the agent chose another
// phone); its calls go as if the page had closed.
func (e *Endpoint) Unregister(user string, pg Page) {
	e.pageGone(user, pg)
}

// pageGone forgets pg as a phone and detaches the legs it carried.
func (e *Endpoint) pageGone(user string, pg Page) {
	e.mu.Lock()
	if cur, ok := e.pages[user]; ok && cur.Gone == pg.Gone {
		delete(e.pages, user)
	}
	legs := append([]*browserLeg(nil), e.byUser[user]...)
	e.mu.Unlock()
	for _, l := range legs {
		l.pageLeft(pg)
	}
}

// Registered reports whether user has a page as its phone.
func (e *Endpoint) Registered(user string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.pages[user]
	return ok
}

// Dial rings user's page and returns the answered leg once media can
// flow, or an error call control reads as it reads SIP's: sip.ErrNotRegistered
// (no page), a *sip.DialError with 603 (declined) or status 0 (the page
// went, ICE failed, ctx ended). The caller owns the leg.
func (e *Endpoint) Dial(ctx context.Context, req DialRequest) (*sip.Leg, error) {
	user := req.User
	e.mu.Lock()
	pg, ok := e.pages[user]
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, sip.ErrNotRunning
	}
	if !ok {
		return nil, fmt.Errorf("webrtc: dial %s: no page registered as its phone: %w", user, sip.ErrNotRegistered)
	}
	x, err := e.cfg.SIP.NewExternalLeg(user, sip.CallInfo{Caller: req.CallerID, CallerName: req.CallerName, Dialled: user})
	if err != nil {
		return nil, &sip.DialError{Reason: err.Error()}
	}
	l, err := newBrowserLeg(e, x, user)
	if err != nil {
		x.Leg().Close()
		return nil, &sip.DialError{Reason: err.Error()}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		l.close()
		return nil, sip.ErrNotRunning
	}
	e.legs[l.id] = l
	e.byUser[user] = append(e.byUser[user], l)
	e.mu.Unlock()
	e.goOwned(l.watch)
	if err := l.offer(pg, Signal{Caller: req.CallerID, CallerName: req.CallerName, AutoAnswer: req.AutoAnswer}); err != nil {
		l.fire(evFailed, err.Error())
		x.Leg().Close()
		return nil, &sip.DialError{Reason: err.Error()}
	}
	select {
	case <-l.connected:
		return x.Leg(), nil
	case <-l.ended:
	case <-ctx.Done():
		l.fire(evCancel, "ringing stopped")
	}
	x.Leg().Close()
	<-l.ended
	return nil, l.dialError(ctx)
}

// forget drops an ended leg from the tables.
func (e *Endpoint) forget(l *browserLeg) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.legs, l.id)
	legs := e.byUser[l.user]
	for i, o := range legs {
		if o == l {
			legs = append(legs[:i], legs[i+1:]...)
			break
		}
	}
	if len(legs) == 0 {
		delete(e.byUser, l.user)
	} else {
		e.byUser[l.user] = legs
	}
}

// leg finds user's leg id.
func (e *Endpoint) leg(user, id string) (*browserLeg, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.legs[id]
	if l == nil || l.user != user {
		return nil, fmt.Errorf("leg %q: %w", id, ErrUnknownLeg)
	}
	return l, nil
}

// Answer takes a page's answer to an offer it was sent.
func (e *Endpoint) Answer(user string, pg Page, legID, sdp string) error {
	l, err := e.leg(user, legID)
	if err != nil {
		return err
	}
	return l.answer(pg, sdp)
}

// Hangup is the page hanging up a leg, or declining it while it rings.
func (e *Endpoint) Hangup(user, legID, reason string) error {
	l, err := e.leg(user, legID)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "hung up in the browser"
	}
	l.fire(evPageHangup, reason)
	return nil
}

// Candidate takes a trickled ICE candidate from the page. The engine is
// ICE-lite and learns the browser's address from its checks, so it only
// checks the leg exists.
func (e *Endpoint) Candidate(user, legID string) error {
	_, err := e.leg(user, legID)
	return err
}

// Stats is a browser leg's figures with getStats' names: what the engine
// received from the page (inbound-rtp), sent to it (outbound-rtp), and
// what the page reported receiving (remote-inbound-rtp, from its RTCP).
type Stats struct {
	Leg             string  `json:"leg"`
	State           string  `json:"state"`
	Codec           string  `json:"codec,omitempty"`
	PacketsReceived uint64  `json:"packetsReceived"`
	PacketsLost     int64   `json:"packetsLost"`
	Jitter          float64 `json:"jitter"` // seconds
	PacketsSent     uint64  `json:"packetsSent"`
	BytesSent       uint64  `json:"bytesSent"`
	// RemoteFractionLost and RemoteJitter: the page's last receiver report.
	RemoteFractionLost float64 `json:"remoteFractionLost"`
	RemoteJitter       float64 `json:"remoteJitter"`
	Reattached         int     `json:"reattached"`
}

// Stats reports user's leg.
func (e *Endpoint) Stats(user, legID string) (Stats, error) {
	l, err := e.leg(user, legID)
	if err != nil {
		return Stats{}, err
	}
	return l.stats(), nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
func floatFrom(b uint64) float64 { return math.Float64frombits(b) }
