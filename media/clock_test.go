package media

import "testing"

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
