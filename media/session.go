package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
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
// receive path never takes a lock.
type remoteConfig struct {
	remote netip.AddrPort
	codec  Codec
	dtmfPT uint8
	enc    *[65536]uint8
	dec    *[256]int16
	law    int // index into a Prompt's pre-encoded frames
}

// receiver is what a leg hands its decoded frames to: a function set with
// SetReceiver (or a mixer's queue), or a bridge relaying into the
// receive goroutine's outgoing batch.
type receiver struct {
	fn  func(pcm []int16)
	fwd func(pcm []int16, tx *txBatch)
}

// Session is one RTP leg: a local address (a port of its own or a shared
// one), one remote peer.
//
// Receiving runs on the socket's reader goroutine, from Start until Close.
// Sending (WriteFrame, Play, SendDTMF) may be called from any goroutine;
// paced audio leaves on the media clock.
type Session struct {
	alloc *PortAllocator
	ep    *endpoint
	own   bool       // ep is this leg's alone
	peer  netip.Addr // Options.Peer as given to the shared pool
	loop  *loop
	local netip.AddrPort
	log   *slog.Logger

	cfg     atomic.Pointer[remoteConfig]
	latched atomic.Pointer[netip.AddrPort]
	// latchMode is a LatchMode; sigIP is the address the call's signalling
	// came from, which may send the first packets in LatchStrict mode.
	latchMode atomic.Uint32
	sigIP     atomic.Pointer[netip.Addr]
	// expect is the SSRC the peer's SDP announced (a=ssrc), with bit 32
	// set; 0 when none.
	expect atomic.Uint64
	srtp   atomic.Pointer[srtpState]
	recv   atomic.Pointer[receiver]
	dir    atomic.Uint32 // Direction
	dtmf   chan rune
	// onDTMF, when set, takes digits instead of dtmf (OnDTMF).
	onDTMF atomic.Pointer[func(rune)]

	latchTimeout atomic.Int64 // nanoseconds; tests shorten it

	started   atomic.Bool
	closed    atomic.Bool
	startOnce sync.Once
	closeOnce sync.Once
	done      chan struct{}
	closeErr  error

	// The fields above are read on every packet by every goroutine; the
	// groups below are each written by one side. Keeping them on separate
	// cache lines saves the relay and the clock from bouncing lines
	// between the cores.
	_ cacheLinePad

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
	hdr          rtp.Header // SRTP's scratch
	// lastDue is when the last paced frame was due: a prompt that follows
	// another one continues its 20 ms rhythm.
	lastDue time.Time
	barged  bool       // the last player was cancelled: start the next at once
	dtmfMu  sync.Mutex // one RFC 4733 event at a time
	// Send pacing (written where the leg's paced frames are flushed).
	pace paceStats

	_ cacheLinePad

	// Receive side, owned by the socket's reader goroutine.
	rx rxState
	// Demultiplexing keys on a shared socket, guarded by ep.mu.
	dk demuxKeys

	st counters
}

type rxState struct {
	lastFromLatched time.Time
	// acc gathers samples when packets do not carry exactly one 20 ms
	// frame (allocated on first need).
	acc  *[FrameSamples]int16
	fill int

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
	// Written by the receive side.
	packetsIn, bytesIn             atomic.Uint64
	lastIn                         atomic.Int64 // unix nanos
	lost                           atomic.Int64
	jitterBits                     atomic.Uint64
	dropJunk, dropPT, dropOversize atomic.Uint64
	dropEarly, dropForeign         atomic.Uint64
	relatches, dtmfIn, dtmfDropped atomic.Uint64
	dropAuth                       atomic.Uint64
	late                           atomic.Uint64

	_ cacheLinePad

	// Written by the send side.
	packetsOut, bytesOut      atomic.Uint64
	sendErrors, dropSendEvent atomic.Uint64
}

// cacheLinePad keeps what follows off the cache line of what precedes.
type cacheLinePad [64]byte

// paceStats is how late this leg's paced frames left.
type paceStats struct {
	frames, late5 atomic.Uint64
	maxNs         atomic.Int64
	prevNs        atomic.Int64
	jitterBits    atomic.Uint64 // smoothed |change in lateness|, ns, as float64 bits
}

// lateProbe, when set, is told the lateness of every paced frame
// (benchmarks); dueProbe the instant each played frame was due (tests).
var (
	lateProbe atomic.Pointer[func(time.Duration)]
	dueProbe  atomic.Pointer[func(s *Session, due time.Time)]
)

// sendLateTolerance is what counts as a late frame in Stats.SendLate.
const sendLateTolerance = 5 * time.Millisecond

// observeLate accounts one paced frame that left d after its due instant.
func (s *Session) observeLate(d time.Duration) {
	if d < 0 {
		d = 0
	}
	pacing.observe(d)
	if fn := lateProbe.Load(); fn != nil {
		(*fn)(d)
	}
	p := &s.pace
	p.frames.Add(1)
	if d > sendLateTolerance {
		p.late5.Add(1)
	}
	ns := int64(d)
	for {
		m := p.maxNs.Load()
		if ns <= m || p.maxNs.CompareAndSwap(m, ns) {
			break
		}
	}
	// RFC 3550's jitter estimator applied to send lateness: how much the
	// spacing between this leg's packets wanders, smoothed over ~16 frames.
	diff := ns - p.prevNs.Swap(ns)
	if diff < 0 {
		diff = -diff
	}
	j := math.Float64frombits(p.jitterBits.Load())
	j += (float64(diff) - j) / 16
	p.jitterBits.Store(math.Float64bits(j))
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
	DroppedEarly       uint64 // arrived before SetRemote (or Start)
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

	// Send pacing of the frames the media clock emitted for this leg
	// (prompts, music, tones, DTMF, mixer output): how many, how many left
	// more than 5 ms after their due instant, the latest one, and the
	// smoothed variation of lateness from frame to frame (the jitter the
	// phone's buffer sees from us).
	PacedFrames uint64
	SendLate    uint64
	SendLateMax time.Duration
	SendJitter  time.Duration
	// SharedPort: the local port carries other legs too (told apart by
	// address and SSRC).
	SharedPort bool
}

// Options choose how a session is opened.
type Options struct {
	// OwnPort gives the leg a port of its own even when the allocator
	// shares sockets: for peers that send several calls from one address
	// and port without a=ssrc, or from unpredictable ports (odd NATs).
	OwnPort bool
	// Peer is the IP the leg's media is expected from, when known (the
	// signalling source, a trunk): legs of one peer are spread over the
	// shared ports so that IP-only latching (NAT) stays unambiguous.
	Peer netip.Addr
	// Latch is the latching mode; LatchLoose implies OwnPort (a shared
	// port cannot hand "any source" to one leg).
	Latch LatchMode
	// SignalSource is as for SetSignalSource.
	SignalSource netip.Addr
}

// NewSession opens a session with a port from alloc on localIP: a port of
// its own, or one of the allocator's shared ports if ShareSockets was
// called. The session receives nothing until Start and sends nothing
// until SetRemote.
func NewSession(alloc *PortAllocator, localIP netip.Addr, logger *slog.Logger) (*Session, error) {
	return OpenSession(alloc, localIP, logger, Options{})
}

// OpenSession is NewSession with options.
func OpenSession(alloc *PortAllocator, localIP netip.Addr, logger *slog.Logger, o Options) (*Session, error) {
	if alloc == nil {
		return nil, errors.New("new rtp session: nil port allocator")
	}
	if !localIP.IsValid() {
		return nil, errors.New("new rtp session: no local media IP configured")
	}
	localIP = localIP.Unmap()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	own := o.OwnPort || o.Latch == LatchLoose || alloc.Shared() == 0
	var ep *endpoint
	var err error
	if own {
		ep, err = openEndpoint(alloc, localIP, -1)
	} else {
		peer := o.Peer
		if !peer.IsValid() {
			peer = o.SignalSource
		}
		if peer.IsValid() {
			peer = peer.Unmap()
		}
		ep, err = alloc.acquireShared(localIP, peer)
		o.Peer = peer
	}
	if err != nil {
		return nil, fmt.Errorf("new rtp session: %w", err)
	}
	s := &Session{
		alloc:        alloc,
		ep:           ep,
		own:          own,
		peer:         o.Peer,
		loop:         ep.loop,
		local:        ep.local,
		log:          logger,
		dtmf:         make(chan rune, dtmfQueue),
		gapThreshold: defaultGapThreshold,
		done:         make(chan struct{}),
		ssrc:         rand.Uint32(),
		seq:          uint16(rand.Uint32()),
		ts:           rand.Uint32(),
	}
	s.latchTimeout.Store(int64(defaultLatchTimeout))
	s.latchMode.Store(uint32(o.Latch))
	if o.SignalSource.IsValid() {
		ip := o.SignalSource.Unmap()
		s.sigIP.Store(&ip)
	}
	ep.attach(s)
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
	if codec.PayloadType == PCMA.PayloadType {
		c.law = lawA
	}
	old := s.cfg.Swap(c)
	if old == nil || old.remote != remote {
		s.latched.Store(nil)
	}
	s.ep.reindex(s)
	s.log.Debug("rtp remote set", "rtp_local", s.local.String(), "remote", remote.String(), "codec", codec.Name, "dtmf_pt", dtmfPT)
}

// ExpectSSRC tells the session the SSRC the peer announced in its SDP
// (a=ssrc, RFC 5576). On a shared port it is how the leg's packets are
// told from other calls' coming from the same address; the latching rules
// still apply.
func (s *Session) ExpectSSRC(ssrc uint32) {
	s.expect.Store(uint64(ssrc) | 1<<32)
	s.ep.reindex(s)
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

// Start lets the leg receive: packets that arrived before are dropped
// (counted as DroppedEarly) on a shared port, read late on a port of its
// own. It is a no-op after the first call or after Close.
func (s *Session) Start() {
	s.startOnce.Do(func() {
		if s.closed.Load() {
			return
		}
		s.started.Store(true)
		s.ep.start()
	})
}

// Close stops receiving and sending, closes the leg's own socket (or
// leaves its shared port) and releases the port. It is idempotent and
// safe to call concurrently, but must not be called from inside the leg's
// own receiver callback (it waits for that callback to return). Playback,
// DTMF and writes in progress return ErrClosed.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		// Make a later Start a no-op before the reader can be launched.
		s.startOnce.Do(func() {})
		s.closed.Store(true)
		close(s.done)
		// Fence the send side: no packet of this leg is encoded after
		// Close returns.
		s.sendMu.Lock()
		s.sendMu.Unlock() //nolint:staticcheck // an empty critical section on purpose
		s.ep.detach(s)
		if s.own {
			s.closeErr = s.ep.close()
		} else {
			s.alloc.releaseShared(s.ep, s.peer)
		}
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
	s.recv.Store(&receiver{fn: fn})
}

// installReceiver sets fn and returns the token removeReceiver needs.
func (s *Session) installReceiver(fn func(pcm []int16)) *receiver {
	r := &receiver{fn: fn}
	s.recv.Store(r)
	return r
}

// installRelay sets a receiver that relays within the receive goroutine's
// outgoing batch (a bridge).
func (s *Session) installRelay(fwd func(pcm []int16, tx *txBatch)) *receiver {
	r := &receiver{fwd: fwd}
	s.recv.Store(r)
	return r
}

// removeReceiver uninstalls the receiver identified by r only if it is
// still the current one, so a bridge or mixer letting go of a leg never
// tears out the receiver of whoever took the leg over since (consultation,
// conference, transfer), whatever order the owner closes things in.
func (s *Session) removeReceiver(r *receiver) {
	if r != nil {
		s.recv.CompareAndSwap(r, nil)
	}
}

// DTMF delivers digits received as RFC 4733 events or injected with
// InjectDTMF, one per key press.
func (s *Session) DTMF() <-chan rune { return s.dtmf }

// OnDTMF hands every digit to fn, on the receive goroutine, instead of
// the DTMF channel; digits already waiting there go to fn first. It spares
// a reader goroutine per leg (the IVR stamps and queues keys in fn). fn
// must not block. nil goes back to the channel.
func (s *Session) OnDTMF(fn func(rune)) {
	if fn == nil {
		s.onDTMF.Store(nil)
		return
	}
	s.onDTMF.Store(&fn)
	for {
		select {
		case d := <-s.dtmf:
			fn(d)
		default:
			return
		}
	}
}

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
	if fn := s.onDTMF.Load(); fn != nil {
		(*fn)(d)
		s.st.dtmfIn.Add(1)
		return
	}
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
		PacedFrames:        s.pace.frames.Load(),
		SendLate:           s.pace.late5.Load(),
		SendLateMax:        time.Duration(s.pace.maxNs.Load()),
		SendJitter:         time.Duration(math.Float64frombits(s.pace.jitterBits.Load())),
		SharedPort:         !s.own,
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
func (s *Session) WriteFrame(pcm []int16) error {
	tx := directTx.Get().(*txBatch)
	tx.now = time.Now()
	dst, err := s.writePCM(tx, pcm)
	if err != nil {
		tx.n = 0
		directTx.Put(tx)
		return err
	}
	return sendDirect(tx, dst)
}

// writeFrameTo queues pcm as one packet in tx (the caller flushes): the
// relay path, which must not allocate or make a system call per packet.
func (s *Session) writeFrameTo(pcm []int16, tx *txBatch) error {
	if len(pcm) > tx.room-rtpHeaderLen-srtpMaxTag {
		return s.WriteFrame(pcm) // an odd frame size: alone
	}
	_, err := s.writePCM(tx, pcm)
	return err
}

// checkWrite validates a frame to send; cfg is the negotiated remote.
func (s *Session) checkWrite(n int) (*remoteConfig, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	cfg := s.cfg.Load()
	if cfg == nil {
		return nil, ErrNoRemote
	}
	if cfg.enc == nil {
		return nil, fmt.Errorf("rtp send: codec %s: %w", cfg.codec, ErrUnsupportedCodec)
	}
	if n > maxFrameSamples {
		return nil, fmt.Errorf("rtp send: frame of %d samples exceeds one packet (max %d)", n, maxFrameSamples)
	}
	return cfg, nil
}

// writePCM encodes one audio packet of pcm into tx.
func (s *Session) writePCM(tx *txBatch, pcm []int16) (netip.AddrPort, error) {
	cfg, err := s.checkWrite(len(pcm))
	if err != nil || len(pcm) == 0 {
		return netip.AddrPort{}, err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.closed.Load() {
		return netip.AddrPort{}, ErrClosed
	}
	b, dst, ok := s.audioLocked(tx, cfg, len(pcm), false, false, tx.now)
	if !ok {
		return dst, nil
	}
	payload := b[rtpHeaderLen : rtpHeaderLen+len(pcm)]
	for i, v := range pcm {
		payload[i] = cfg.enc[uint16(v)]
	}
	return dst, s.commitLocked(tx, b[:rtpHeaderLen+len(pcm)], dst, tx.tickDue)
}

// audioLocked does the bookkeeping of one audio packet of n samples
// (sendMu held): marker, timestamp, sequence number. It returns the batch
// slot with the header written, or ok=false when the packet is not to be
// sent (a DTMF event is going out, on hold, no address yet) — the
// timestamp still follows the clock. continuous means the caller paces
// frames itself, so the timestamp advances by exactly n whatever the
// scheduling jitter.
func (s *Session) audioLocked(tx *txBatch, cfg *remoteConfig, n int, forceMarker, continuous bool, now time.Time) (b []byte, dst netip.AddrPort, ok bool) {
	if s.inEvent {
		s.st.dropSendEvent.Add(1)
		return nil, dst, false
	}
	sending := Direction(s.dir.Load()).sends()
	marker := forceMarker || s.needMarker || !s.sentAny
	if !continuous && s.sentAny {
		if gap := now.Sub(s.lastSend); gap > s.gapThreshold {
			marker = true
			s.ts += uint32(gap/FrameDuration-1) * FrameSamples
		}
	}
	ts := s.ts
	// While nothing may be sent (c=0.0.0.0 or a direction without send)
	// the timestamp keeps following the clock but the sequence number does
	// not, as it counts packets actually sent (RFC 3550 §5.1); the first
	// packet after resuming starts a talk spurt.
	s.ts += uint32(n)
	s.lastSend = now
	s.sentAny = true
	dst, ok = s.dest(cfg)
	if !ok || !sending {
		s.needMarker = true
		return nil, dst, false
	}
	seq := s.seq
	s.seq++
	s.needMarker = false
	b = tx.slot()
	putHeader(b[:rtpHeaderLen], marker, cfg.codec.PayloadType, seq, ts, s.ssrc)
	return b, dst, true
}

// putHeader writes the fixed RTP header we send (no CSRC, no extension).
func putHeader(b []byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32) {
	b[0] = 2 << 6
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[4], b[5], b[6], b[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	b[8], b[9], b[10], b[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
}

// commitLocked encrypts the packet in b when SRTP is on and queues it in
// tx (sendMu held). due is the paced frame's due instant (zero if none).
func (s *Session) commitLocked(tx *txBatch, b []byte, dst netip.AddrPort, due time.Time) error {
	if sp := s.srtp.Load(); sp != nil {
		enc, err := sp.tx.EncryptRTP(b[:0], b, &s.hdr)
		if err != nil {
			s.st.sendErrors.Add(1)
			return fmt.Errorf("%w: srtp encrypt: %w", ErrSend, err)
		}
		b = enc
	}
	tx.commit(s.ep, s, dst, b, due)
	return nil
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

// handlePacket validates, latches, accounts and dispatches one datagram
// (on the socket's reader goroutine).
func (s *Session) handlePacket(rs *rxScratch, b []byte, from netip.AddrPort, now time.Time, tx *txBatch) {
	cfg := s.cfg.Load()
	if cfg == nil || !s.started.Load() {
		s.st.dropEarly.Add(1)
		return
	}
	if len(b) < rtpHeaderLen || b[0]>>6 != 2 {
		s.st.dropJunk.Add(1)
		return
	}
	pkt := &rs.pkt
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
	moved, ok := s.latch(from, pkt, cfg, now)
	if !ok {
		s.st.dropForeign.Add(1)
		return
	}
	s.st.packetsIn.Add(1)
	s.st.bytesIn.Add(uint64(len(b)))
	s.st.lastIn.Store(now.UnixNano())
	if newStream := s.trackSeq(pkt, now, isAudio); newStream || moved {
		s.ep.setStream(s, pkt.SSRC)
	}

	if isDTMF {
		s.handleDTMF(pkt)
		return
	}
	r := s.recv.Load()
	if !Direction(s.dir.Load()).receives() {
		r = nil
	}
	rx := &s.rx
	payload := pkt.Payload
	if rx.fill == 0 && len(payload) == FrameSamples {
		// The usual case: one packet, one frame, decoded straight into
		// the reader's scratch.
		if r != nil {
			f := rs.frame[:]
			for i, c := range payload {
				f[i] = cfg.dec[c]
			}
			s.deliver(r, f, tx)
		}
		return
	}
	if rx.acc == nil {
		rx.acc = new([FrameSamples]int16)
	}
	for _, c := range payload {
		rx.acc[rx.fill] = cfg.dec[c]
		rx.fill++
		if rx.fill == FrameSamples {
			rx.fill = 0
			if r != nil {
				s.deliver(r, rx.acc[:], tx)
			}
		}
	}
}

func (s *Session) deliver(r *receiver, pcm []int16, tx *txBatch) {
	if r.fwd != nil {
		r.fwd(pcm, tx)
		return
	}
	r.fn(pcm)
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
// On a shared port, LatchLoose applies only among the packets the port's
// demultiplexer can give the leg: open the session with
// Options{Latch: LatchLoose} for a port of its own.
func (s *Session) SetLatchMode(m LatchMode) { s.latchMode.Store(uint32(m)) }

// SetSignalSource tells the session the IP the call's SIP signalling came
// from; in LatchStrict mode its packets may start the stream too.
func (s *Session) SetSignalSource(ip netip.Addr) {
	if !ip.IsValid() {
		s.sigIP.Store(nil)
	} else {
		ip = ip.Unmap()
		s.sigIP.Store(&ip)
	}
	s.ep.reindex(s)
}

// latch decides whether a valid packet's source is the peer, learning or
// moving it when the mode allows; moved reports a new peer.
func (s *Session) latch(from netip.AddrPort, pkt *rtp.Packet, cfg *remoteConfig, now time.Time) (moved, ok bool) {
	l := s.latched.Load()
	if l != nil && *l == from {
		s.rx.lastFromLatched = now
		return false, true
	}
	if LatchMode(s.latchMode.Load()) == LatchLoose {
		if l != nil && now.Sub(s.rx.lastFromLatched) <= time.Duration(s.latchTimeout.Load()) {
			return false, false
		}
	} else if !s.mayLatch(from, l, pkt, cfg) {
		return false, false
	}
	peer := from // heap copy only when latching, not per packet
	s.latched.Store(&peer)
	if l == nil {
		s.log.Debug("rtp peer latched", "rtp_local", s.local.String(), "peer", from.String())
	} else {
		s.st.relatches.Add(1)
		s.log.Info("rtp peer moved", "rtp_local", s.local.String(), "old", l.String(), "peer", from.String())
	}
	s.rx.lastFromLatched = now
	return true, true
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
func (s *Session) trackSeq(pkt *rtp.Packet, now time.Time, audio bool) (newStream bool) {
	rx := &s.rx
	seq := pkt.SequenceNumber
	if !rx.seqInit || rx.ssrc != pkt.SSRC {
		newStream = true
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
		return newStream
	}
	arrival := int64(now.Sub(rxEpoch)) * 8000 / int64(time.Second)
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
	return newStream
}

// rxEpoch is the origin of the arrival clock RFC 3550's jitter is kept in.
var rxEpoch = time.Now()

// LateAfter is how far behind its stream's quickest transit a packet may
// arrive before it counts as late: what a 60 ms jitter buffer would drop.
const LateAfter = 60 * time.Millisecond

const lateAfterTS = int64(LateAfter / time.Millisecond * 8) // in 8 kHz timestamp units
