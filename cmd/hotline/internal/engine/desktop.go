package engine

import (
	"time"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/routing/crm"
)

// historyDays is how far back the customer card's history is read from
// the record files at start-up; later calls are added as they end.
const historyDays = 30

// desktopConfig gives the agent API what the desktop shows beyond call
// control: wrap-up codes per queue, break limits, the customer card's
// attributes and history, desktop languages and the live-ASA window.
func (e *Engine) desktopConfig(c *agentapi.Config) {
	c.QueueCodes = map[string][]string{}
	for _, q := range e.cfg.Queues {
		if len(q.WrapUpCodes) > 0 {
			c.QueueCodes[q.Name] = q.WrapUpCodes
		}
	}
	c.BreakLimits = map[string]time.Duration{}
	for r, d := range e.cfg.ACD.BreakReasons {
		c.BreakLimits[r] = d.D()
	}
	c.CustomerAttributes = e.cfg.Desktop.CustomerAttributes
	c.Languages = e.cfg.Desktop.Languages
	c.HistorySize = e.cfg.Desktop.History
	c.Window = e.cfg.ACD.Window.D()
	if h := e.callHistory(); h != nil {
		c.History = h
	}
}

// callHistory is the customer history, seeded from the record files on
// first use (before the tracker writes the first record).
func (e *Engine) callHistory() *cdr.History {
	r := e.records
	if r == nil {
		return nil
	}
	if r.history == nil {
		plan := crm.NumberPlan{CountryCode: e.cfg.CRM.CountryCode}
		r.history = cdr.NewHistory(cdr.HistoryOptions{PerCaller: max(10, e.cfg.Desktop.History+1), Normalise: func(n string) string {
			if k, err := plan.Normalise(n); err == nil {
				return k
			}
			return n
		}})
		n, err := r.history.Load(r.dir, time.Now().AddDate(0, 0, -historyDays))
		if err != nil {
			e.log.Warn("customer history not loaded; it fills as calls end", "err", err)
		} else {
			e.log.Debug("customer history loaded", "calls", n, "days", historyDays)
		}
	}
	return r.history
}

// historyWriter files each record in the customer history as it is written.
type historyWriter struct {
	w cdr.RecordWriter
	h *cdr.History
}

func (w historyWriter) Write(r cdr.Record) error {
	w.h.Add(r)
	return w.w.Write(r)
}
