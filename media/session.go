package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

const (
	// maxPacket is the largest datagram accepted; anything larger cannot be
	// G.711 audio on an Ethernet path and is dropped unparsed.
	maxPacket = 1500
	// rtpHeaderLen is the fixed header we send (no CSRC, no extension).
	rtpHeaderLen = 12
	// maxFrameSamples bounds WriteFrame so one frame fits one packet.
	maxFrameSamples = maxPacket - rtpHeaderLen
	// defaultLatchTimeout is how long the latched peer must be silent before
	// another source may take over the leg in LatchLoose mode.
	defaultLatchTimeout = 2 * time.Second
	// maxSeqJump is how far ahead of the last sequence number a packet from
	// a new address may be and still count as the same stream moving (a
	// NAT rebinding), in LatchStrict mode.
	maxSeqJump = 100
	// defaultGapThreshold: a longer pause between sent frames starts a new
	// talk spurt (marker bit, timestamp jumps by the silence).
	defaultGapThreshold = 3 * FrameDuration
	// dtmfQueue is the DTMF channel's buffer; digits beyond it are dropped
	// (counted) rather than stalling the receive loop.
	dtmfQueue = 64
)

// remoteConfig is what SetRemote negotiated; swapped atomically so the
// receive loop never takes a lock.
type remoteConfig struct {
	remote netip.AddrPort
	codec  Codec
	dtmfPT uint8
	enc    *[65536]uint8
	dec    *[256]int16
}

// Session is one RTP leg: one UDP socket, one remote peer.
//
// Receiving runs on one goroutine started by Start and stopped by Close.
// Sending (WriteFrame, Play, SendDTMF) may be called from any goroutine.
type Session struct {
	alloc *PortAllocator
	port  int
	conn  *net.UDPConn
	local netip.AddrPort
	log   *slog.Logger
	epoch time.Time

	cfg     atomic.Pointer[remoteConfig]
	latched atomic.Pointer[netip.AddrPort]
	// latchMode is a LatchMode; sigIP is the address the call's signalling
	// came from, which may send the first packets in LatchStrict mode.
	latchMode atomic.Uint32
	sigIP     atomic.Pointer[netip.Addr]
	srtp      atomic.Pointer[srtpState]
	recv      atomic.Pointer[func(pcm []int16)]
	dir       atomic.Uint32 // Direction
	dtmf      chan rune

	latchTimeout atomic.Int64 // nanoseconds; tests shorten it
	// paceProbe, when set before playing, is told how late each played
	// packet left against its drift-free schedule (benchmarks).
	paceProbe func(late time.Duration)

	startOnce sync.Once
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
	closeErr  error

	// Send side, guarded by sendMu.
	sendMu       sync.Mutex
	gapThreshold time.Duration
	ssrc         uint32
	seq          uint16
	ts           uint32 // timestamp of the next audio packet
	lastSend     time.Time
	sentAny      bool
	needMarker   bool
	inEvent      bool
	hdr          rtp.Header
	sendBuf      [maxPacket]byte
	dtmfMu       sync.Mutex // one RFC 4733 event at a time

	// Receive side, owned by the receive goroutine.
	rx rxState

	st counters
}

type rxState struct {
	lastFromLatched time.Time
	pcm             [FrameSamples]int16
	fill            int

	seqInit   bool
	ssrc      uint32
	baseSeq   uint32
	maxSeq    uint16
	cycles    uint32
	received  uint64
	lostPrev  int64
	transitOK bool
	transit   int64
	jitter    float64 // RFC 3550 J, in timestamp units
	// minTransit is the quickest transit seen on this stream: a packet
	// arriving LateAfter behind it would miss a typical jitter buffer.
	minTransit int64

	dtmfSeen  bool
	dtmfTS    uint32
	dtmfEvent uint8
}

type counters struct {
	packetsIn, packetsOut, bytesIn, bytesOut atomic.Uint64
	lastIn                                   atomic.Int64 // unix nanos
	lost                                     atomic.Int64
	jitterBits                               atomic.Uint64
	dropJunk, dropPT, dropOversize           atomic.Uint64
	dropEarly, dropForeign, dropSendEvent    atomic.Uint64
	relatches, dtmfIn, dtmfDropped           atomic.Uint64
	sendErrors                               atomic.Uint64
	dropAuth                                 atomic.Uint64
	late                                     atomic.Uint64
}

// Stats is a snapshot of a session's counters.
type Stats struct {
	Local        netip.AddrPort
	Remote       netip.AddrPort // from signalling (SetRemote)
	Latched      netip.AddrPort // where packets really come from; zero until the first valid packet
	Codec        Codec
	PacketsIn    uint64
	PacketsOut   uint64
	BytesIn      uint64
	BytesOut     uint64
	LastPacketIn time.Time // zero if nothing received
	Lost         int64     // RFC 3550 cumulative loss (negative with duplicates)
	JitterMs     float64   // RFC 3550 interarrival jitter
	Late         uint64    // audio packets arriving more than LateAfter behind the stream's quickest transit

	DroppedJunk        uint64 // not RTP version 2 / unparsable
	DroppedPayloadType uint64 // neither the codec nor telephone-event
	DroppedOversize    uint64 // larger than 1500 bytes
	DroppedEarly       uint64 // arrived before SetRemote
	// DroppedForeign: from an address that may not send this leg's media
	// (hotline_rtp_dropped_packets_total{reason="foreign_source"}).
	DroppedForeign    uint64
	DroppedDuringDTMF uint64 // audio frames not sent while an RFC 4733 event was going out
	Relatches         uint64 // latched peer moved (NAT rebinding, or a silent peer replaced in loose mode)
	DTMFIn            uint64 // digits delivered on DTMF()
	DTMFDropped       uint64 // digits lost because nobody read DTMF()
	SendErrors        uint64 // sendto failures (e.g. no route, buffer full)
	// DroppedAuth: SRTP packets failing authentication or replayed
	// (hotline_rtp_dropped_packets_total{reason="srtp_auth"}).
	DroppedAuth uint64
	SRTP        bool // media encrypted (SRTP negotiated)
}

// NewSession binds a UDP socket on localIP with a port from alloc. The
// session receives nothing until Start and sends nothing until SetRemote.
func NewSession(alloc *PortAllocator, localIP netip.Addr, logger *slog.Logger) (*Session, error) {
	if alloc == nil {
		return nil, errors.New("new rtp session: nil port allocator")
	}
	if !localIP.IsValid() {
		return nil, errors.New("new rtp session: no local media IP configured")
	}
	localIP = localIP.Unmap()
	conn, port, err := alloc.bind(localIP)
	if err != nil {
		return nil, fmt.Errorf("new rtp session: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	local := netip.AddrPortFrom(localIP, uint16(port))
	s := &Session{
		alloc:        alloc,
		port:         port,
		conn:         conn,
		local:        local,
		log:          logger.With("rtp_local", local.String()),
		epoch:        time.Now(),
		dtmf:         make(chan rune, dtmfQueue),
		gapThreshold: defaultGapThreshold,
		done:         make(chan struct{}),
		ssrc:         rand.Uint32(),
		seq:          uint16(rand.Uint32()),
		ts:           rand.Uint32(),
	}
	s.latchTimeout.Store(int64(defaultLatchTimeout))
	s.hdr.Version = 2
	s.hdr.SSRC = s.ssrc
	return s, nil
}

// LocalAddr is the address to put in SDP (c= and m= lines).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// SSRC is the synchronisation source of packets this session sends.
func (s *Session) SSRC() uint32 { return s.ssrc }

// SetRemote sets the peer and codec from the SDP offer/answer. dtmfPT 0
// means telephone-event was not negotiated. It may be called again on a
// re-INVITE; a new remote address drops the latched peer so the new one
// can be learnt.
func (s *Session) SetRemote(remote netip.AddrPort, codec Codec, dtmfPT uint8) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	c := &remoteConfig{remote: remote, codec: codec, dtmfPT: dtmfPT}
	var err error
	if c.enc, err = codec.encodeTable(); err == nil {
		c.dec, err = codec.decodeTable()
	}
	if err != nil {
		s.log.Error("rtp session: cannot code negotiated codec; audio will be dropped", "codec", codec.String(), "err", err)
		c.enc, c.dec = nil, nil
	}
	old := s.cfg.Swap(c)
	if old == nil || old.remote != remote {
		s.latched.Store(nil)
	}
	s.log.Debug("rtp remote set", "remote", remote.String(), "codec", codec.Name, "dtmf_pt", dtmfPT)
}

// Direction is the media direction the engine negotiated for this leg,
// from the engine's point of view (SDP a=sendrecv/sendonly/recvonly/inactive).
type Direction uint32

const (
	SendRecv Direction = iota // the default
	SendOnly                  // we send, incoming audio is not delivered
	RecvOnly                  // the phone put us on hold: we send nothing
	Inactive                  // neither
)

func (d Direction) sends() bool    { return d == SendRecv || d == SendOnly }
func (d Direction) receives() bool { return d == SendRecv || d == RecvOnly }

func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return fmt.Sprintf("direction(%d)", uint32(d))
}

// SetDirection applies a re-INVITE's direction. While not sending, frames
// written are dropped; the timestamp keeps following the clock and the
// first packet after resuming carries the marker bit. While not receiving, packets are still
// validated, latched and counted but not delivered to the receiver; DTMF
// is still delivered.
func (s *Session) SetDirection(d Direction) { s.dir.Store(uint32(d)) }

// Start launches the receive loop. It is a no-op after the first call or
// after Close.
func (s *Session) Start() {
	s.startOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		s.wg.Add(1)
		go s.readLoop()
	})
}

// Close stops the receive loop, closes the socket and releases the port.
// It is idempotent and safe to call concurrently, but must not be called
// from inside a receiver callback (it waits for the receive loop).
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		// Make a later Start a no-op before the loop can be launched.
		s.startOnce.Do(func() {})
		close(s.done)
		if err := s.conn.Close(); err != nil {
			s.closeErr = fmt.Errorf("close rtp socket %s: %w", s.local, err)
		}
		s.wg.Wait()
		s.alloc.release(s.port)
	})
	return s.closeErr
}

// Done is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// SetReceiver installs fn to be called on the receive goroutine with every
// decoded 20 ms frame. The slice is reused: copy it to keep it. nil discards.
func (s *Session) SetReceiver(fn func(pcm []int16)) {
	if fn == nil {
		s.recv.Store(nil)
		return
	}
	s.recv.Store(&fn)
}

// installReceiver sets fn and returns the token removeReceiver needs.
func (s *Session) installReceiver(fn func(pcm []int16)) *func(pcm []int16) {
	p := &fn
	s.recv.Store(p)
	return p
}

// removeReceiver uninstalls the receiver identified by p only if it is
// still the current one, so a bridge or mixer letting go of a leg never
// tears out the receiver of whoever took the leg over since (consultation,
// conference, transfer), whatever order the owner closes things in.
func (s *Session) removeReceiver(p *func(pcm []int16)) {
	if p != nil {
		s.recv.CompareAndSwap(p, nil)
	}
}

// DTMF delivers digits received as RFC 4733 events or injected with
// InjectDTMF, one per key press.
func (s *Session) DTMF() <-chan rune { return s.dtmf }

// InjectDTMF delivers a digit that arrived by signalling (SIP INFO) on the
// same channel as RFC 4733 digits. Invalid digits are ignored.
func (s *Session) InjectDTMF(d rune) {
	if _, ok := dtmfEventCode(d); !ok {
		s.log.Warn("ignoring invalid injected DTMF digit", "digit", string(d))
		return
	}
	s.deliverDigit(d)
}

func (s *Session) deliverDigit(d rune) {
	select {
	case s.dtmf <- d:
		s.st.dtmfIn.Add(1)
	default:
		s.st.dtmfDropped.Add(1)
	}
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() Stats {
	st := Stats{
		Local:              s.local,
		PacketsIn:          s.st.packetsIn.Load(),
		PacketsOut:         s.st.packetsOut.Load(),
		BytesIn:            s.st.bytesIn.Load(),
		BytesOut:           s.st.bytesOut.Load(),
		Lost:               s.st.lost.Load(),
		JitterMs:           math.Float64frombits(s.st.jitterBits.Load()),
		Late:               s.st.late.Load(),
		DroppedJunk:        s.st.dropJunk.Load(),
		DroppedPayloadType: s.st.dropPT.Load(),
		DroppedOversize:    s.st.dropOversize.Load(),
		DroppedEarly:       s.st.dropEarly.Load(),
		DroppedForeign:     s.st.dropForeign.Load(),
		DroppedDuringDTMF:  s.st.dropSendEvent.Load(),
		Relatches:          s.st.relatches.Load(),
		DTMFIn:             s.st.dtmfIn.Load(),
		DTMFDropped:        s.st.dtmfDropped.Load(),
		SendErrors:         s.st.sendErrors.Load(),
		DroppedAuth:        s.st.dropAuth.Load(),
		SRTP:               s.SRTP(),
	}
	if ns := s.st.lastIn.Load(); ns != 0 {
		st.LastPacketIn = time.Unix(0, ns)
	}
	if c := s.cfg.Load(); c != nil {
		st.Remote, st.Codec = c.remote, c.codec
	}
	if l := s.latched.Load(); l != nil {
		st.Latched = *l
	}
	return st
}

// WriteFrame encodes pcm with the negotiated codec and sends it as one RTP
// packet. A pause of more than three frames since the previous packet starts
// a new talk spurt: marker bit set and the timestamp advanced by the pause.
func (s *Session) WriteFrame(pcm []int16) error { return s.write(pcm, false, false) }

// write sends one audio packet. continuous means the caller paces frames
// itself (Play), so the timestamp advances by exactly len(pcm) whatever the
// scheduling jitter.
func (s *Session) write(pcm []int16, forceMarker, continuous bool) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	cfg := s.cfg.Load()
	if cfg == nil {
		return ErrNoRemote
	}
	if cfg.enc == nil {
		return fmt.Errorf("rtp send: codec %s: %w", cfg.codec, ErrUnsupportedCodec)
	}
	if len(pcm) == 0 {
		return nil
	}
	if len(pcm) > maxFrameSamples {
		return fmt.Errorf("rtp send: frame of %d samples exceeds one packet (max %d)", len(pcm), maxFrameSamples)
	}
	dst, ok := s.dest(cfg)

	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.inEvent {
		s.st.dropSendEvent.Add(1)
		return nil
	}
	sending := Direction(s.dir.Load()).sends()
	now := time.Now()
	marker := forceMarker || s.needMarker || !s.sentAny
	if !continuous && s.sentAny {
		if gap := now.Sub(s.lastSend); gap > s.gapThreshold {
			marker = true
			s.ts += uint32(gap/FrameDuration-1) * FrameSamples
		}
	}
	h := &s.hdr
	h.Marker = marker
	h.PayloadType = cfg.codec.PayloadType
	h.SequenceNumber = s.seq
	h.Timestamp = s.ts
	n, err := h.MarshalTo(s.sendBuf[:])
	if err != nil {
		return fmt.Errorf("rtp send: marshal header: %w", err)
	}
	payload := s.sendBuf[n : n+len(pcm)]
	for i, v := range pcm {
		payload[i] = cfg.enc[uint16(v)]
	}
	// While nothing may be sent (c=0.0.0.0 or a direction without send)
	// the timestamp keeps following the clock but the sequence number does
	// not, as it counts packets actually sent (RFC 3550 §5.1); the first
	// packet after resuming starts a talk spurt.
	s.ts += uint32(len(pcm))
	s.lastSend = now
	s.sentAny = true
	if !ok || !sending {
		s.needMarker = true
		return nil
	}
	s.seq++
	s.needMarker = false
	return s.sendLocked(s.sendBuf[:n+len(pcm)], h, dst)
}

// sendErr classifies a sendto failure: the socket closed under us by a
// concurrent Close is ErrClosed, anything else one lost packet (ErrSend).
func (s *Session) sendErr(dst netip.AddrPort, err error) error {
	if errors.Is(err, net.ErrClosed) {
		return ErrClosed
	}
	s.st.sendErrors.Add(1)
	return fmt.Errorf("%w to %s: %w", ErrSend, dst, err)
}

// dest is where to send: the latched source (symmetric RTP) or, until a
// packet arrives, the address from SDP. ok is false for a hold address.
func (s *Session) dest(cfg *remoteConfig) (netip.AddrPort, bool) {
	if l := s.latched.Load(); l != nil {
		return *l, true
	}
	r := cfg.remote
	if !r.IsValid() || r.Addr().IsUnspecified() || r.Port() == 0 {
		return r, false
	}
	return r, true
}

func (s *Session) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxPacket+512)
	var pkt rtp.Packet
	errStreak := 0
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors and the like are transient for an unconnected
			// socket; count and carry on, but never spin on an error that
			// keeps coming back.
			s.st.dropJunk.Add(1)
			if errStreak++; errStreak > 100 {
				s.log.Warn("rtp read keeps failing", "err", err)
				errStreak = 0
				select {
				case <-s.done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			continue
		}
		errStreak = 0
		if n > maxPacket {
			s.st.dropOversize.Add(1)
			continue
		}
		s.handlePacket(&pkt, buf[:n], from, time.Now())
	}
}

// handlePacket validates, latches, accounts and dispatches one datagram.
func (s *Session) handlePacket(pkt *rtp.Packet, b []byte, from netip.AddrPort, now time.Time) {
	cfg := s.cfg.Load()
	if cfg == nil {
		s.st.dropEarly.Add(1)
		return
	}
	if len(b) < rtpHeaderLen || b[0]>>6 != 2 {
		s.st.dropJunk.Add(1)
		return
	}
	if b, ok := s.decrypt(b); !ok {
		return
	} else if err := pkt.Unmarshal(b); err != nil {
		s.st.dropJunk.Add(1)
		return
	}
	pt := pkt.PayloadType
	isAudio := pt == cfg.codec.PayloadType && cfg.dec != nil
	isDTMF := cfg.dtmfPT != 0 && pt == cfg.dtmfPT
	if !isAudio && !isDTMF {
		s.st.dropPT.Add(1)
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if !s.latch(from, pkt, cfg, now) {
		s.st.dropForeign.Add(1)
		return
	}
	s.st.packetsIn.Add(1)
	s.st.bytesIn.Add(uint64(len(b)))
	s.st.lastIn.Store(now.UnixNano())
	s.trackSeq(pkt, now, isAudio)

	if isDTMF {
		s.handleDTMF(pkt)
		return
	}
	fnp := s.recv.Load()
	if !Direction(s.dir.Load()).receives() {
		fnp = nil
	}
	rx := &s.rx
	for _, c := range pkt.Payload {
		rx.pcm[rx.fill] = cfg.dec[c]
		rx.fill++
		if rx.fill == FrameSamples {
			rx.fill = 0
			if fnp != nil {
				(*fnp)(rx.pcm[:])
			}
		}
	}
}

// LatchMode says which sources may become (or replace) a session's peer.
type LatchMode uint32

const (
	// LatchStrict (the default) takes the first packets only from the IP
	// address in the SDP or the IP the SIP signalling came from (a phone
	// behind NAT), and moves to another address only when a re-INVITE
	// changes the SDP address or when the packet continues the current
	// stream (same SSRC, next sequence numbers: the phone's NAT rebound).
	// Anyone else is dropped and counted (DroppedForeign), however long the
	// peer has been silent: nobody can take over a call's audio.
	LatchStrict LatchMode = iota
	// LatchLoose is plain symmetric RTP for odd NATs (media relays that
	// send from an address unrelated to the SDP and the signalling): the
	// first valid packet's source becomes the peer, and any source replaces
	// a peer silent for two seconds.
	LatchLoose
)

// SetLatchMode chooses how the peer is learnt (LatchStrict by default).
func (s *Session) SetLatchMode(m LatchMode) { s.latchMode.Store(uint32(m)) }

// SetSignalSource tells the session the IP the call's SIP signalling came
// from; in LatchStrict mode its packets may start the stream too.
func (s *Session) SetSignalSource(ip netip.Addr) {
	if !ip.IsValid() {
		s.sigIP.Store(nil)
		return
	}
	ip = ip.Unmap()
	s.sigIP.Store(&ip)
}

// latch decides whether a valid packet's source is the peer, learning or
// moving it when the mode allows.
func (s *Session) latch(from netip.AddrPort, pkt *rtp.Packet, cfg *remoteConfig, now time.Time) bool {
	l := s.latched.Load()
	if l != nil && *l == from {
		s.rx.lastFromLatched = now
		return true
	}
	if LatchMode(s.latchMode.Load()) == LatchLoose {
		if l != nil && now.Sub(s.rx.lastFromLatched) <= time.Duration(s.latchTimeout.Load()) {
			return false
		}
	} else if !s.mayLatch(from, l, pkt, cfg) {
		return false
	}
	peer := from // heap copy only when latching, not per packet
	s.latched.Store(&peer)
	if l == nil {
		s.log.Debug("rtp peer latched", "peer", from.String())
	} else {
		s.st.relatches.Add(1)
		s.log.Info("rtp peer moved", "old", l.String(), "peer", from.String())
	}
	s.rx.lastFromLatched = now
	return true
}

// mayLatch is LatchStrict's rule for a source that is not the current peer.
func (s *Session) mayLatch(from netip.AddrPort, cur *netip.AddrPort, pkt *rtp.Packet, cfg *remoteConfig) bool {
	if cur == nil {
		if from.Addr() == cfg.remote.Addr() {
			return true
		}
		sig := s.sigIP.Load()
		return sig != nil && *sig == from.Addr()
	}
	// The same stream from a new address: a NAT rebinding, which an
	// intruder cannot fake without seeing the stream (32-bit SSRC, sequence).
	rx := &s.rx
	if !rx.seqInit || pkt.SSRC != rx.ssrc {
		return false
	}
	d := pkt.SequenceNumber - rx.maxSeq
	return d >= 1 && d <= maxSeqJump
}

// trackSeq keeps RFC 3550 loss and jitter figures (appendix A.1 and A.8).
func (s *Session) trackSeq(pkt *rtp.Packet, now time.Time, audio bool) {
	rx := &s.rx
	seq := pkt.SequenceNumber
	if !rx.seqInit || rx.ssrc != pkt.SSRC {
		if rx.seqInit {
			rx.lostPrev = s.st.lost.Load()
		}
		rx.seqInit, rx.ssrc = true, pkt.SSRC
		rx.baseSeq, rx.maxSeq, rx.cycles, rx.received = uint32(seq), seq, 0, 0
		rx.transitOK = false
	} else if delta := seq - rx.maxSeq; delta < 0x8000 {
		if delta > 3000 {
			// Sender restarted its sequence without a new SSRC: rebase
			// rather than count thousands of phantom losses.
			rx.lostPrev = s.st.lost.Load()
			rx.baseSeq, rx.cycles, rx.received = uint32(seq), 0, 0
		} else if seq < rx.maxSeq {
			rx.cycles += 1 << 16
		}
		rx.maxSeq = seq
	}
	rx.received++
	expected := int64(rx.cycles) + int64(rx.maxSeq) - int64(rx.baseSeq) + 1
	s.st.lost.Store(rx.lostPrev + expected - int64(rx.received))

	if !audio {
		return
	}
	arrival := int64(now.Sub(s.epoch)) * 8000 / int64(time.Second)
	transit := arrival - int64(pkt.Timestamp)
	if rx.transitOK {
		d := transit - rx.transit
		if d < 0 {
			d = -d
		}
		// Timestamps wrap at 2^32; a jump that large is a new stream, not jitter.
		if d < 1<<30 {
			rx.jitter += (float64(d) - rx.jitter) / 16
			s.st.jitterBits.Store(math.Float64bits(rx.jitter / 8))
		}
	}
	if !rx.transitOK || transit < rx.minTransit {
		rx.minTransit = transit
	} else if transit-rx.minTransit > lateAfterTS {
		s.st.late.Add(1)
	}
	rx.transit, rx.transitOK = transit, true
}

// LateAfter is how far behind its stream's quickest transit a packet may
// arrive before it counts as late: what a 60 ms jitter buffer would drop.
const LateAfter = 60 * time.Millisecond

const lateAfterTS = int64(LateAfter / time.Millisecond * 8) // in 8 kHz timestamp units
