package routing

import "time"

// slBucket holds the outcomes of one Window/Buckets slice of time.
type slBucket struct {
	epoch     int64
	within    int
	answered  int
	abandoned int
}

// slWindow is the time-bucketed sliding window described in the package doc.
type slWindow struct {
	width   time.Duration
	buckets []slBucket
}

func newSLWindow(window time.Duration, n int) *slWindow {
	w := &slWindow{width: window / time.Duration(n), buckets: make([]slBucket, n)}
	for i := range w.buckets {
		w.buckets[i].epoch = -1 << 62
	}
	return w
}

func (w *slWindow) bucket(now time.Time) *slBucket {
	e := now.UnixNano() / int64(w.width)
	b := &w.buckets[int(uint64(e)%uint64(len(w.buckets)))]
	if b.epoch != e {
		*b = slBucket{epoch: e}
	}
	return b
}

func (w *slWindow) addAnswered(now time.Time, within bool) {
	b := w.bucket(now)
	b.answered++
	if within {
		b.within++
	}
}

func (w *slWindow) addAbandoned(now time.Time) { w.bucket(now).abandoned++ }

func (w *slWindow) sums(now time.Time) (within, answered, abandoned int) {
	e := now.UnixNano() / int64(w.width)
	oldest := e - int64(len(w.buckets)) + 1
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.epoch >= oldest && b.epoch <= e {
			within += b.within
			answered += b.answered
			abandoned += b.abandoned
		}
	}
	return
}

// ServiceLevel is a snapshot of one tier's (or queue+tier's) service level.
type ServiceLevel struct {
	Tier      string
	Queue     string // empty for the whole tier
	Target    float64
	Threshold time.Duration
	// Window counts.
	AnsweredWithin int
	Answered       int
	Abandoned      int // after ShortAbandon
	// OverdueWaiting are callers still waiting past Threshold; counted as
	// misses in Actual unless Config.IgnoreWaitingMisses.
	OverdueWaiting int
	// Actual is the estimated service level (1 when nothing happened yet).
	Actual float64
	// Gap is the tier-ordering gap under the configured policy
	// (relative or absolute; relative for FIFO/strict).
	Gap float64
}

func actualSL(within, answered, abandoned, overdue int) float64 {
	den := answered + abandoned + overdue
	if den == 0 {
		return 1
	}
	return float64(within) / float64(den)
}

// RelativeGap is (target − actual) ÷ (1 − target): the share of the miss
// budget overspent. Positive means behind target.
func RelativeGap(target, actual float64) float64 {
	budget := 1 - target
	if budget < 1e-6 {
		budget = 1e-6
	}
	return (target - actual) / budget
}

// AbsoluteGap is target − actual in SL points.
func AbsoluteGap(target, actual float64) float64 { return target - actual }
