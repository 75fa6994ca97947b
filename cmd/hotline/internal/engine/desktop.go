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
// The plan's part (codes, limits, card attributes, languages) changes with
// a reload (agentapi.SetDesk).
func (e *Engine) desktopConfig(c *agentapi.Config) {
	d := e.plan.Load().desk
	c.QueueCodes, c.BreakLimits = d.QueueCodes, d.BreakLimits
	c.CustomerAttributes, c.Languages = d.CustomerAttributes, d.Languages
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
