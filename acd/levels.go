package acd

import "github.com/hotlinecc/hotline/routing"

// HasSample reports whether a service level rests on any call: answered,
// abandoned (past the short-abandon time) or still waiting past the
// threshold. One without is "no data", not 100 %.
func HasSample(sl routing.ServiceLevel) bool {
	return sl.Answered+sl.Abandoned+sl.OverdueWaiting > 0
}
