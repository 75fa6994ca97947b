package media

import (
	"context"
	"sync"
	"testing"
	"time"
)

// bridgeRig is caller phone ⇄ engine leg a ⇄ bridge ⇄ engine leg b ⇄ agent phone.
type bridgeRig struct {
	callerPhone, agentPhone *Session
	a, b                    *Session
	callerEar, agentEar     *frameSink
	br                      *Bridge
}

func newBridgeRig(t *testing.T) *bridgeRig {
	t.Helper()
	r := &bridgeRig{callerEar: newFrameSink(), agentEar: newFrameSink()}
	r.callerPhone, r.a = newPair(t, PCMU, 0)
	r.agentPhone, r.b = newPair(t, PCMA, 0) // the agent leg may use another law
	r.callerPhone.SetReceiver(r.callerEar.receive)
	r.agentPhone.SetReceiver(r.agentEar.receive)
	r.br = NewBridge(r.a, r.b)
	t.Cleanup(r.br.Close)
	return r
}

// say sends n frames of a tone from a phone and waits until the engine
// leg has taken them in.
func say(t *testing.T, phone, leg *Session, freq float64, n int) {
	t.Helper()
	pcm := Tone(freq, time.Duration(n)*FrameDuration, 8000).Samples
	target := leg.Stats().PacketsIn + uint64(n)
	for off := 0; off < len(pcm); off += FrameSamples {
		if err := phone.WriteFrame(pcm[off : off+FrameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "engine leg to receive", func() bool { return leg.Stats().PacketsIn >= target })
}

func framesSince(s *frameSink, from int) []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int16
	for _, f := range s.frames[from:] {
		out = append(out, f...)
	}
	return out
}

func TestBridgeRelaysBothWays(t *testing.T) {
	r := newBridgeRig(t)
	var mu sync.Mutex
	tapped := map[bool]int{}
	r.br.SetTap(func(fromA bool, pcm []int16) { mu.Lock(); tapped[fromA]++; mu.Unlock() })

	say(t, r.callerPhone, r.a, 400, 10)
	say(t, r.agentPhone, r.b, 1000, 10)
	waitFor(t, "both ears", func() bool { return r.agentEar.count() == 10 && r.callerEar.count() == 10 })
	if ear := r.agentEar.all(); !hasTone(ear, 400) || hasTone(ear, 1000) {
		t.Error("agent does not hear exactly the caller")
	}
	if ear := r.callerEar.all(); !hasTone(ear, 1000) || hasTone(ear, 400) {
		t.Error("caller does not hear exactly the agent")
	}
	mu.Lock()
	if tapped[true] != 10 || tapped[false] != 10 {
		t.Errorf("tap saw %d caller and %d agent frames, want 10 each", tapped[true], tapped[false])
	}
	mu.Unlock()
	if st := r.br.Stats(); st.ForwardedAB != 10 || st.ForwardedBA != 10 {
		t.Errorf("bridge stats %+v", st)
	}
}

func TestBridgeHoldUnhold(t *testing.T) {
	r := newBridgeRig(t)
	moh := Tone(600, 100*time.Millisecond, 8000)
	r.br.Hold(context.Background(), moh)
	if !r.br.Held() {
		t.Fatal("Held() false after Hold")
	}
	say(t, r.callerPhone, r.a, 400, 10)
	say(t, r.agentPhone, r.b, 1000, 10)
	waitFor(t, "music on hold at the caller", func() bool { return r.callerEar.count() >= 15 })
	if ear := r.callerEar.all(); !hasTone(ear, 600) || hasTone(ear, 1000) {
		t.Error("caller on hold does not hear (only) the music")
	}
	time.Sleep(50 * time.Millisecond) // let any wrongly relayed frame land
	if n := r.agentEar.count(); n != 0 {
		t.Fatalf("agent heard %d frames during hold, want none", n)
	}

	r.br.Unhold()
	// Let the caller's phone take in every music packet already sent.
	mohSent := r.a.Stats().PacketsOut
	waitFor(t, "music drained", func() bool { return r.callerPhone.Stats().PacketsIn >= mohSent })
	mark := r.callerEar.count()
	say(t, r.callerPhone, r.a, 400, 10)
	say(t, r.agentPhone, r.b, 1000, 10)
	waitFor(t, "audio after unhold", func() bool { return r.agentEar.count() >= 10 && r.callerEar.count() >= mark+10 })
	if ear := r.agentEar.all(); !hasTone(ear, 400) {
		t.Error("agent does not hear the caller after unhold")
	}
	if ear := framesSince(r.callerEar, mark+2); !hasTone(ear, 1000) || hasTone(ear, 600) {
		t.Error("caller does not hear the agent (without music) after unhold")
	}
}

func TestBridgeMute(t *testing.T) {
	r := newBridgeRig(t)
	r.br.Mute(true)
	say(t, r.agentPhone, r.b, 1000, 10)
	say(t, r.callerPhone, r.a, 400, 10)
	waitFor(t, "caller audio at agent", func() bool { return r.agentEar.count() == 10 })
	time.Sleep(50 * time.Millisecond)
	if n := r.callerEar.count(); n != 0 {
		t.Fatalf("caller heard %d frames from a muted agent", n)
	}
	r.br.Mute(false)
	say(t, r.agentPhone, r.b, 1000, 10)
	waitFor(t, "agent audio after unmute", func() bool { return r.callerEar.count() == 10 })
}

func TestBridgeClose(t *testing.T) {
	r := newBridgeRig(t)
	r.br.Hold(context.Background(), Tone(600, time.Second, 8000))
	r.br.Close()
	r.br.Close()                                                  // idempotent
	r.br.Hold(context.Background(), Tone(600, time.Second, 8000)) // ignored after Close
	mark := r.callerEar.count()
	say(t, r.callerPhone, r.a, 400, 5)
	time.Sleep(50 * time.Millisecond)
	if r.agentEar.count() != 0 {
		t.Fatal("closed bridge still relays")
	}
	if n := r.callerEar.count(); n > mark+1 {
		t.Fatalf("music kept playing after Close: %d more frames", n-mark)
	}
}

// TestBridgeConsultation: the agent puts the caller on hold, talks to a
// colleague over a second bridge, then returns to the caller; closing the
// consultation afterwards must not cut the call it handed back.
func TestBridgeConsultation(t *testing.T) {
	r := newBridgeRig(t)
	colleaguePhone, c := newPair(t, PCMU, 0)
	colleagueEar := newFrameSink()
	colleaguePhone.SetReceiver(colleagueEar.receive)

	r.br.Hold(context.Background(), Tone(600, 100*time.Millisecond, 8000))
	consult := NewBridge(r.b, c)
	say(t, r.agentPhone, r.b, 1000, 10)
	say(t, colleaguePhone, c, 1700, 10)
	waitFor(t, "consultation audio", func() bool { return colleagueEar.count() >= 10 && r.agentEar.count() >= 10 })
	if !hasTone(colleagueEar.all(), 1000) || !hasTone(r.agentEar.all(), 1700) {
		t.Fatal("agent and colleague do not hear each other")
	}
	if n := r.br.Stats().ForwardedBA; n != 0 {
		t.Fatalf("held caller got %d agent frames during consultation", n)
	}

	r.br.Unhold() // back to the caller
	consult.Close()
	say(t, r.agentPhone, r.b, 1000, 10)
	waitFor(t, "agent heard by caller again", func() bool { return r.br.Stats().ForwardedBA == 10 })
	if n := consult.Stats().ForwardedAB; n != 10 {
		t.Fatalf("consultation relayed %d frames after the agent went back, want the 10 from before", n)
	}
}

// TestBridgeToMixerHandoff: a barge moves the legs from the bridge into a
// mixer; closing the bridge after that leaves the mixer's receivers alone.
func TestBridgeToMixerHandoff(t *testing.T) {
	r := newBridgeRig(t)
	m := NewMixer(nil)
	m.AddLeg("caller", r.a)
	m.AddLeg("agent", r.b)
	r.br.Close()
	say(t, r.callerPhone, r.a, 400, 3)
	m.mu.Lock()
	leg := m.legs[0]
	m.mu.Unlock()
	leg.mu.Lock()
	queued := leg.n
	leg.mu.Unlock()
	if r.a.recv.Load() == nil || queued == 0 {
		t.Fatalf("closing the old bridge removed the mixer's receiver (queued %d)", queued)
	}
	m.RemoveLeg("caller")
	if r.a.recv.Load() != nil {
		t.Fatal("RemoveLeg left the mixer's receiver installed")
	}
}

func TestBridgeRelayDTMF(t *testing.T) {
	callerPhone, a := newPair(t, PCMU, 101)
	agentPhone, b := newPair(t, PCMU, 101)
	br := NewBridge(a, b)
	br.RelayDTMF()
	br.RelayDTMF() // idempotent
	for _, d := range "12#" {
		if err := agentPhone.SendDTMF(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	b.InjectDTMF('9') // SIP INFO from the agent's phone
	if got := collectDigits(t, callerPhone, 4); got != "12#9" {
		t.Fatalf("caller's far end got %q, want 12#9", got)
	}
	br.Close() // stops the relay goroutine
	b.InjectDTMF('7')
	select {
	case d := <-b.DTMF():
		if d != '7' {
			t.Fatalf("got %q", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay still consuming digits after Close")
	}
}
