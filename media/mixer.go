package media

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// mixQueueFrames bounds each leg's jitter queue (80 ms). A leg whose
	// clock runs fast loses its oldest frame rather than adding delay.
	mixQueueFrames = 4
	// mixPrefill frames must be queued before a leg is played out after
	// it started or ran dry, so packets arriving around a tick boundary do
	// not alternate between a missed frame and a doubled one.
	mixPrefill = 2
)

// legPort is what the mixer needs from a leg; *Session implements it.
type legPort interface {
	installReceiver(fn func(pcm []int16)) *receiver
	removeReceiver(token *receiver)
	writeFrameTo(pcm []int16, tx *txBatch) error
}

// Route says that Listener hears Speaker.
type Route struct{ Listener, Speaker string }

// Mixer sums the audio of several legs for conference, barge, whisper and
// listen. Each leg's frames wait in a small jitter queue; every 20 ms tick
// (on the media clock while Run runs) takes one frame per leg — silence if a leg
// sent nothing — and sends each listener the saturated sum of the legs it
// hears according to the routing matrix. A listener routed to nobody is
// sent nothing.
//
// A session is fed to one owner at a time: AddLeg takes the session's
// receiver over from a Bridge (whose later Close leaves it alone), so a
// call goes from bridge to mixer for barge or conference and back.
type Mixer struct {
	log *slog.Logger

	mu     sync.Mutex
	legs   []*mixLeg
	hears  map[string]map[string]bool
	srcs   [][]int16 // reused per tick
	sends  []*mixLeg // reused per tick
	tapped []*mixLeg // reused per tick

	tap     atomic.Pointer[func(leg string, pcm []int16)]
	running atomic.Bool
	prefill int
	ticks   atomic.Uint64

	// tickMu is held while a tick runs, so Run can stop the ticks for good.
	tickMu  sync.Mutex
	stopped bool
}

type mixLeg struct {
	id    string
	port  legPort
	token *receiver // receiver installed on port

	mu        sync.Mutex
	q         [mixQueueFrames][FrameSamples]int16
	head, n   int
	primed    bool
	overruns  uint64
	underruns uint64

	// Used by the tick only.
	in      [FrameSamples]int16
	present bool
	out     [FrameSamples]int16
}

// NewMixer returns an empty mixer; start its clock with Run.
func NewMixer(logger *slog.Logger) *Mixer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mixer{log: logger, hears: make(map[string]map[string]bool), prefill: mixPrefill}
}

// AddLeg adds a session under id and installs the mixer as its receiver.
// An existing leg with the same id is replaced.
func (m *Mixer) AddLeg(id string, s *Session) { m.addLeg(id, s) }

func (m *Mixer) addLeg(id string, p legPort) {
	leg := &mixLeg{id: id, port: p}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, l := range m.legs {
		if l.id == id {
			l.port.removeReceiver(l.token)
			m.legs = append(m.legs[:i], m.legs[i+1:]...)
			break
		}
	}
	leg.token = p.installReceiver(leg.push)
	m.legs = append(m.legs, leg)
}

// RemoveLeg takes a leg out of the mix, uninstalls its receiver (unless
// the session has been given another one since) and drops every route to
// or from it.
func (m *Mixer) RemoveLeg(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, l := range m.legs {
		if l.id == id {
			l.port.removeReceiver(l.token)
			m.legs = append(m.legs[:i], m.legs[i+1:]...)
			break
		}
	}
	delete(m.hears, id)
	for _, sp := range m.hears {
		delete(sp, id)
	}
}

// Legs returns the ids of the legs in the mix.
func (m *Mixer) Legs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, len(m.legs))
	for i, l := range m.legs {
		ids[i] = l.id
	}
	return ids
}

// SetHears sets one cell of the routing matrix. Routes may name legs not
// added yet. A leg never hears itself.
func (m *Mixer) SetHears(listener, speaker string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setHearsLocked(listener, speaker, on)
}

func (m *Mixer) setHearsLocked(listener, speaker string, on bool) {
	if listener == speaker {
		return
	}
	sp := m.hears[listener]
	if !on {
		delete(sp, speaker)
		return
	}
	if sp == nil {
		sp = make(map[string]bool)
		m.hears[listener] = sp
	}
	sp[speaker] = true
}

// Hears reports one cell of the routing matrix.
func (m *Mixer) Hears(listener, speaker string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hears[listener][speaker]
}

// SetRoutes replaces the whole routing matrix atomically (switching from
// listen to whisper to barge without a tick in between).
func (m *Mixer) SetRoutes(routes []Route) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hears = make(map[string]map[string]bool)
	for _, r := range routes {
		m.setHearsLocked(r.Listener, r.Speaker, true)
	}
}

// SetTap installs a recording tap called on the mixer goroutine once per
// leg per tick with that leg's incoming frame (silence if it sent nothing),
// so taps see aligned 20 ms frames. The slice is reused. nil removes it.
func (m *Mixer) SetTap(fn func(leg string, pcm []int16)) {
	if fn == nil {
		m.tap.Store(nil)
		return
	}
	m.tap.Store(&fn)
}

// Run drives the mix every 20 ms on the media clock until ctx is done,
// then returns ctx.Err(); no tick runs after it returned. Only one Run may
// be active per mixer.
func (m *Mixer) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("mixer: Run already active")
	}
	defer m.running.Store(false)
	m.tickMu.Lock()
	m.stopped = false
	m.tickMu.Unlock()
	theClock.pick(-1).add(mixerTicker{m}, time.Now(), netip.AddrPort{}, false)
	<-ctx.Done()
	m.tickMu.Lock()
	m.stopped = true
	m.tickMu.Unlock()
	return ctx.Err()
}

// mixerTicker is the mixer's emitter on the media clock.
type mixerTicker struct{ m *Mixer }

func (t mixerTicker) emit(_ time.Time, tx *txBatch) bool {
	m := t.m
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	if m.stopped {
		return false
	}
	m.tickInto(tx)
	return true
}

func (mixerTicker) retired() {}

// tick mixes and sends one aligned 20 ms frame at once (tests and
// benchmarks drive the mixer with it).
func (m *Mixer) tick() {
	tx := newTxBatch(txBatchSize, pktRoom)
	tx.now = time.Now()
	m.tickInto(tx)
	tx.flush()
}

// tickInto mixes one aligned 20 ms frame into tx.
func (m *Mixer) tickInto(tx *txBatch) {
	m.ticks.Add(1)
	m.mu.Lock()
	for _, l := range m.legs {
		l.present = l.pop(&l.in, m.prefill)
	}
	m.sends = m.sends[:0]
	for _, lis := range m.legs {
		sp := m.hears[lis.id]
		if len(sp) == 0 {
			continue
		}
		srcs := m.srcs[:0]
		for _, spk := range m.legs {
			if spk.present && sp[spk.id] {
				srcs = append(srcs, spk.in[:])
			}
		}
		MixFrames(lis.out[:], srcs...)
		m.srcs = srcs[:0]
		m.sends = append(m.sends, lis)
	}
	m.tapped = append(m.tapped[:0], m.legs...)
	sends := m.sends
	tapped := m.tapped
	m.mu.Unlock()

	// Tap and send outside the lock (legs may join meanwhile); the in/out
	// buffers are only touched by the tick.
	if tp := m.tap.Load(); tp != nil {
		for _, l := range tapped {
			(*tp)(l.id, l.in[:])
		}
	}
	for _, l := range sends {
		if err := l.port.writeFrameTo(l.out[:], tx); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNoRemote) {
			m.log.Warn("mixer send failed", "leg", l.id, "err", err)
		}
	}
}

// push is the leg's receiver: queue a copy of the frame, dropping the
// oldest when full.
func (l *mixLeg) push(pcm []int16) {
	l.mu.Lock()
	if l.n == mixQueueFrames {
		l.head = (l.head + 1) % mixQueueFrames
		l.n--
		l.overruns++
	}
	slot := &l.q[(l.head+l.n)%mixQueueFrames]
	c := copy(slot[:], pcm)
	clear(slot[c:])
	l.n++
	l.mu.Unlock()
}

// pop moves the next frame into dst, or fills it with silence and reports
// false if the leg has nothing (yet) to play.
func (l *mixLeg) pop(dst *[FrameSamples]int16, prefill int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primed && l.n >= prefill {
		l.primed = true
	}
	if !l.primed || l.n == 0 {
		if l.primed {
			l.underruns++
		}
		l.primed = false
		clear(dst[:])
		return false
	}
	*dst = l.q[l.head]
	l.head = (l.head + 1) % mixQueueFrames
	l.n--
	return true
}

// MixFrames writes the sum of srcs into dst, saturating at the int16
// limits (clipping, not wrapping, when loud legs add up). A source shorter
// than dst counts as silence beyond its end; no sources give silence.
func MixFrames(dst []int16, srcs ...[]int16) {
	var acc [FrameSamples]int32
	for off := 0; off < len(dst); off += FrameSamples {
		n := min(FrameSamples, len(dst)-off)
		a := acc[:n]
		clear(a)
		for _, s := range srcs {
			if off >= len(s) {
				continue
			}
			seg := s[off:min(off+n, len(s))]
			for i, v := range seg {
				a[i] += int32(v)
			}
		}
		d := dst[off : off+n]
		for i, v := range a {
			d[i] = saturate(v)
		}
	}
}

func saturate(v int32) int16 {
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// ConferenceRoutes: everyone hears everyone else.
func ConferenceRoutes(legs ...string) []Route {
	var r []Route
	for _, l := range legs {
		for _, s := range legs {
			if l != s {
				r = append(r, Route{l, s})
			}
		}
	}
	return r
}

// BargeRoutes: the supervisor joins the call; all three hear each other.
func BargeRoutes(caller, agent, supervisor string) []Route {
	return ConferenceRoutes(caller, agent, supervisor)
}

// ListenRoutes: silent monitoring. Caller and agent hear each other as
// before, the supervisor hears both, nobody hears the supervisor.
func ListenRoutes(caller, agent, supervisor string) []Route {
	return []Route{
		{caller, agent}, {agent, caller},
		{supervisor, caller}, {supervisor, agent},
	}
}

// WhisperRoutes: coaching. The agent hears the caller and the supervisor,
// the caller hears only the agent, the supervisor hears both.
func WhisperRoutes(caller, agent, supervisor string) []Route {
	return []Route{
		{caller, agent},
		{agent, caller}, {agent, supervisor},
		{supervisor, caller}, {supervisor, agent},
	}
}
