package media

import "fmt"

// emitterState is the life of something the media clock drives for a
// caller that waits on it (a Play, a SendDTMF). Two goroutines race over
// it — the clock loop emitting frames and the waiting caller, who may give
// up (cancelled context, closed session) — so every change goes through
// to, under the leg's sendMu.
//
//	running ──(last frame / error / session closed)──▶ ended ──(batch sent)──▶ told
//	running ─────────────────(caller gives up)─────────────────────────────▶ told
//	ended ───────────────────(caller gives up)─────────────────────────────▶ told
//
// ended: no frame of it will be encoded any more, but its last one may
// still be in the loop's batch; told: the caller has been released (done
// closed), after which the clock only drops it.
type emitterState uint8

const (
	emRunning emitterState = iota
	emEnded
	emTold
)

// emitterTransitions lists the moves each state allows.
var emitterTransitions = [...][]emitterState{
	emRunning: {emEnded, emTold},
	emEnded:   {emTold},
	emTold:    nil,
}

func (s emitterState) String() string {
	switch s {
	case emRunning:
		return "running"
	case emEnded:
		return "ended"
	case emTold:
		return "told"
	}
	return fmt.Sprintf("emitterState(%d)", uint8(s))
}

// to moves to next if the table allows it and reports whether it moved.
func (s *emitterState) to(next emitterState) bool {
	for _, n := range emitterTransitions[*s] {
		if n == next {
			*s = next
			return true
		}
	}
	return false
}
