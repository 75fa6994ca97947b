package acd

import (
	"sort"

	"github.com/hotlinecc/hotline/routing"
)

// QueueServiceLevels returns each tier's service level in each configured
// queue (routing.ServiceLevel with Queue set), queues by name, tiers in
// configuration order: the wallboard's per-queue view of the window that
// ServiceLevels gives per tier.
func (a *ACD) QueueServiceLevels() []routing.ServiceLevel {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	queues := make([]string, 0, len(a.cfg.Routing.Queues))
	for _, q := range a.cfg.Routing.Queues {
		queues = append(queues, q.Name)
	}
	sort.Strings(queues)
	var out []routing.ServiceLevel
	for _, q := range queues {
		for _, t := range a.cfg.Routing.Tiers {
			if sl, err := a.router.QueueServiceLevel(q, t.Name, now); err == nil {
				out = append(out, sl)
			}
		}
	}
	return out
}
