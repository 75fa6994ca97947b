package campaign

import (
	"fmt"
	"math"
	"time"
)

// The pacing rule keeps a campaign's abandon rate (abandoned / reached
// customers) under Spec.MaxAbandonRate, measured over a sliding window of
// the last pacingWindowCalls(cap) reached attempts no older than
// pacingMaxAge:
//
//   - est = (abandoned + 1) / (reached + 1): one abandon more than seen,
//     so a young campaign with few samples is treated as risky.
//   - est ≤ cap/2: the spec's ratio (calls per free agent).
//   - cap/2 < est < cap: the ratio falls linearly to 1.
//   - est ≥ cap: ratio 1 — one call per free agent, each with the agent
//     reserved before dialling, so no call waits for an agent.
//   - the measured rate abandoned/reached ≥ cap with at least
//     pacingMinSample reached calls in the window: hold — no new dial
//     until the rate is under the cap again (abandons age out of the
//     window after pacingMaxAge at most). Even reserved agents let
//     customers wait (an agent phone slow to answer), and the cap is a
//     limit, not a target.
//
// With ratio 1 est starts at 1, so over-dialling begins only after about
// 2/cap reached calls without an abandon; the window is large enough for
// est to get under cap/2 at all.
const (
	pacingMaxAge    = time.Hour
	pacingMinSample = 10
)

func pacingWindowCalls(cap float64) int {
	return max(100, int(math.Ceil(4/cap)))
}

// pacer tracks reached attempts and decides the effective ratio.
type pacer struct {
	cap   float64
	ratio float64
	size  int
	// ring of the last size reached attempts, oldest at head.
	at        []time.Time
	abandoned []bool
	head, n   int
	// totals over the campaign's life
	totalReached, totalAbandoned int
}

func newPacer(ratio, cap float64) *pacer {
	size := pacingWindowCalls(cap)
	return &pacer{cap: cap, ratio: ratio, size: size, at: make([]time.Time, size), abandoned: make([]bool, size)}
}

// add records a reached attempt (completed, abandoned or hung up).
func (p *pacer) add(at time.Time, abandoned bool) {
	p.totalReached++
	if abandoned {
		p.totalAbandoned++
	}
	i := (p.head + p.n) % p.size
	if p.n == p.size {
		p.head = (p.head + 1) % p.size
	} else {
		p.n++
	}
	p.at[i], p.abandoned[i] = at, abandoned
}

// window counts the samples no older than pacingMaxAge at now. Samples
// come in result order, which is nearly time order; older ones are
// dropped from the head.
func (p *pacer) window(now time.Time) (reached, abandoned int) {
	for p.n > 0 && now.Sub(p.at[p.head]) > pacingMaxAge {
		p.head = (p.head + 1) % p.size
		p.n--
	}
	for k := 0; k < p.n; k++ {
		i := (p.head + k) % p.size
		if now.Sub(p.at[i]) > pacingMaxAge {
			continue
		}
		reached++
		if p.abandoned[i] {
			abandoned++
		}
	}
	return reached, abandoned
}

// Pacing is the pacing controller's view, for progress.
type Pacing struct {
	// Ratio is the effective calls per free agent now.
	Ratio float64 `json:"ratio"`
	// Hold: no new dials, the abandon rate is at or over the cap.
	Hold bool `json:"hold"`
	// WindowRate is abandoned / reached over the window; Reached and
	// Abandoned are its counts.
	WindowRate float64 `json:"window_rate"`
	Reached    int     `json:"window_reached"`
	Abandoned  int     `json:"window_abandoned"`
	Reason     string  `json:"reason"`
}

func (p *pacer) decide(now time.Time) Pacing {
	reached, abandoned := p.window(now)
	out := Pacing{Ratio: 1, Reached: reached, Abandoned: abandoned}
	if reached > 0 {
		out.WindowRate = float64(abandoned) / float64(reached)
	}
	if reached >= pacingMinSample && out.WindowRate >= p.cap {
		out.Hold = true
		out.Reason = fmt.Sprintf("hold: abandon rate %.1f%% over the last %d reached calls is at or over the cap %.1f%%", out.WindowRate*100, reached, p.cap*100)
		return out
	}
	est := float64(abandoned+1) / float64(reached+1)
	switch {
	case p.ratio <= 1:
		out.Reason = "one call per free agent"
	case est <= p.cap/2:
		out.Ratio = p.ratio
		out.Reason = "full ratio"
	case est >= p.cap:
		out.Reason = fmt.Sprintf("ratio 1: estimated abandon rate %.1f%% is at or over the cap %.1f%%", est*100, p.cap*100)
	default:
		out.Ratio = 1 + (p.ratio-1)*(p.cap-est)/(p.cap/2)
		out.Reason = fmt.Sprintf("ratio reduced: estimated abandon rate %.1f%% nears the cap %.1f%%", est*100, p.cap*100)
	}
	return out
}
