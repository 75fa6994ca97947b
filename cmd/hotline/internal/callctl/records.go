package callctl

import (
	"encoding/json"
	"time"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/ivr"
)

// finishRecord tells the record tracker what the call path learnt, then
// ends the record.
func (ctl *Control) finishRecord(c *Call, end End, answered bool) {
	t := ctl.cfg.Records
	res := end.Result
	t.Update(c.id, func(r *cdr.Record) {
		if res != nil {
			v := res.Vars
			r.Customer = cdr.Customer{ID: v["customer_id"], Tier: orDefault(v["tier"], "normal"), Region: v["region"], Name: v["name"]}
			r.LookupDegraded = v["lookup_failed"] == "true"
			r.IVRFlow = res.Flow
			if b, err := json.Marshal(res.Trace); err == nil {
				r.IVRTrace = b
			}
			if ivrEnd := ivrEndTime(res); !ivrEnd.IsZero() {
				r.Times.IVREnd = &ivrEnd
			}
			if res.SurveyScore > 0 {
				score := res.SurveyScore
				r.SurveyScore = &score
			}
		}
		if end.Recording != nil {
			state := string(end.Recording.State)
			if end.Recording.Failed {
				state = "failed"
			}
			r.Recording = &cdr.Recording{File: end.Recording.File, State: state}
		}
		if cp := r.Campaign; cp != nil && cp.Outcome == "" {
			cp.Outcome = outboundOutcome(end)
		}
		r.OneWayAudio = !end.Bridged.IsZero() && (end.CallerSilent || end.AgentSilent)
		r.EndedBy = end.EndedBy
		if end.EndedBy == "rtp_timeout" || end.EndedBy == "session_expired" || end.EndedBy == "shutdown" {
			r.Dropped = true
			if r.Reason == "" {
				r.Reason = end.EndedBy
			}
		}
	})
	var d cdr.Disposition
	switch {
	case !answered:
		d = cdr.Failed
	case res != nil && res.Vars["blacklisted"] == "true" && res.Queue == "":
		d = cdr.Blacklisted
	case end.EndedBy == "shutdown" && (res == nil || res.Queue == ""):
		// Cut in the IVR by the engine's stop: not the caller's abandon.
		d = cdr.Failed
	case res != nil && res.Queue == "" && res.Outcome == ivr.OutcomeHangup && end.EndedBy == "ivr":
		// The flow ended it (a message left, information given): not an
		// abandon.
		d = cdr.CompletedIVR
	case res != nil && res.Outcome == ivr.OutcomeCallback:
		d = cdr.CallbackRequested
	case end.Bridged.IsZero() && ctl.isOutbound(c.id):
		// A campaign's customer no agent joined: the apology, or the
		// customer hung up first.
		d = cdr.AbandonedQueue
	}
	t.End(c.id, time.Now(), d)
}

// outboundOutcome is how a campaign call that reached its customer ended.
func outboundOutcome(end End) string {
	switch {
	case !end.Bridged.IsZero():
		return "completed"
	case end.Result != nil && end.Result.LastNode == "sorry":
		return "abandoned"
	}
	return "hung_up"
}

func (ctl *Control) isOutbound(id string) bool { return ctl.attempt(id) != nil }

// ivrEndTime is when the caller first reached a queue (or left the IVR).
func ivrEndTime(res *ivr.Result) time.Time {
	for _, tr := range res.Trace {
		if tr.Event == "queued" {
			return tr.At
		}
	}
	if n := len(res.Trace); n > 0 {
		return res.Trace[n-1].At
	}
	return time.Time{}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
