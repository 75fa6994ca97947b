package acd

import "github.com/hotlinecc/hotline/routing"

// QueueServiceLevels returns each tier's service level in each queue, over
// the router's window (ServiceLevels gives the whole tier).
func (a *ACD) QueueServiceLevels() []routing.ServiceLevel {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var out []routing.ServiceLevel
	for _, q := range a.cfg.Routing.Queues {
		for _, t := range a.cfg.Routing.Tiers {
			if sl, err := a.router.QueueServiceLevel(q.Name, t.Name, now); err == nil {
				out = append(out, sl)
			}
		}
	}
	return out
}

// HasSample reports whether a service level rests on any call: answered,
// abandoned (past the short-abandon time) or still waiting past the
// threshold. One without is "no data", not 100 %.
func HasSample(sl routing.ServiceLevel) bool {
	return sl.Answered+sl.Abandoned+sl.OverdueWaiting > 0
}
