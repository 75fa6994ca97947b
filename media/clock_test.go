package media

import (
	"net/netip"
	"testing"
	"time"
)

// TestEmitterTransitions: the emitter state machine moves only along its
// table, and a caller giving up after the end is released exactly once.
func TestEmitterTransitions(t *testing.T) {
	var s emitterState
	if s != emRunning || s.to(emRunning) {
		t.Fatalf("start %s, running→running allowed", s)
	}
	if !s.to(emEnded) || s != emEnded {
		t.Fatalf("running→ended refused (%s)", s)
	}
	if s.to(emRunning) || s.to(emEnded) {
		t.Fatal("ended went back or stayed")
	}
	if !s.to(emTold) || s.to(emTold) || s.to(emEnded) || s.to(emRunning) {
		t.Fatalf("told must be final (%s)", s)
	}
	s = emRunning
	if !s.to(emTold) {
		t.Fatal("a caller giving up while running is not released")
	}
	for st := emRunning; st <= emTold; st++ {
		if st.String() == "" {
			t.Fatalf("state %d has no name", st)
		}
	}
}

type idleEmitter struct{ id int }

func (*idleEmitter) emit(time.Time, *txBatch) bool { return true }
func (*idleEmitter) retired()                      {}

// TestSlotsForOneDestination: legs starting to play towards one address
// fill a loop's slots trainCap at a time (long trains, bounded bursts);
// legs with addresses of their own take their addresses' slots; a prompt
// that follows another keeps its slot; leaving uncounts.
func TestSlotsForOneDestination(t *testing.T) {
	l := &loop{epoch: time.Now().Truncate(time.Millisecond), wake: make(chan struct{}, 1)}
	l.running = true // no goroutine: the test only places emitters
	l.cur = l.slotAt(time.Now())
	l.sleep = l.cur + 1
	peer := netip.MustParseAddrPort("192.0.2.1:4000")
	const legs = 3*trainCap + 10
	now := time.Now()
	for i := range legs {
		l.add(&idleEmitter{i}, now, peer, true)
	}
	perSlot := map[int]int{}
	for k, slot := range l.wheel {
		for _, en := range slot {
			if en.dst == peer {
				perSlot[k]++
			}
		}
	}
	if len(perSlot) != 4 {
		t.Fatalf("%d legs to one address in %d slots (%v), want 4", legs, len(perSlot), perSlot)
	}
	full := 0
	for _, n := range perSlot {
		if n > trainCap {
			t.Fatalf("a slot holds %d legs of one address, cap %d", n, trainCap)
		}
		if n == trainCap {
			full++
		}
	}
	if full != 3 {
		t.Fatalf("slots %v: want 3 full trains and the rest", perSlot)
	}
	if d := l.byDst[peer]; d == nil || d.n != legs {
		t.Fatalf("count for the address: %+v", d)
	}

	// Addresses of their own: each in the slot its hash gives.
	for i := range 40 {
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 5000)
		at := l.add(&idleEmitter{1000 + i}, now, dst, true)
		k := l.slotAt(at)
		if want := int64(trainHash(dst, 0) % wheelSlots); k%wheelSlots != want {
			t.Fatalf("leg to %s in slot %d, want %d", dst, k%wheelSlots, want)
		}
	}

	// A follow-on prompt keeps its rhythm whatever its destination's slot.
	due := l.epoch.Add(time.Duration(l.cur+7) * slotDur)
	if at := l.add(&idleEmitter{2000}, due, peer, false); !at.Equal(due) {
		t.Fatalf("follow-on frame due %s, want %s", at, due)
	}

	// Leaving uncounts: the address's entry goes with its last leg.
	for k := range l.wheel {
		for _, en := range l.wheel[k] {
			l.leave(en, int64(k))
		}
		l.wheel[k] = nil
	}
	if len(l.byDst) != 0 {
		t.Fatalf("%d destinations still counted after every leg left", len(l.byDst))
	}
}
