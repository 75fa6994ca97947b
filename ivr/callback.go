package ivr

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// callback confirms the number to call back and ends the call with the
// request in place. Reached from a queue node's callback digit, the
// request is the waiting call itself (its place kept); reached any other
// way, the node queues a new request in its own queue. The caller hears
// the number, presses 1 to confirm or 2 to key another; a hang-up before
// confirming withdraws the request.
func (r *run) callback(nd *Node) (string, error) {
	cb := r.pendingCallback
	r.pendingCallback = nil
	if cb == nil {
		var err error
		if cb, err = r.enqueueCallback(nd); err != nil {
			r.log.Warn("ivr: callback request refused", "node", nd.ID, "err", err)
			r.traceAdd(nd, EvCallback, "", map[string]string{"result": "refused", "error": err.Error(), "goto": nd.Failure})
			if nd.Failure == "" {
				r.hangup(nd, "callback refused")
			}
			return nd.Failure, nil
		}
		r.traceAdd(nd, EvCallback, "", map[string]string{"result": "requested", "queue": r.expand(nd.Queue)})
	}
	confirmed := false
	defer func() {
		if !confirmed {
			cb.Cancel()
		}
	}()

	number := digitsOnly(r.vars["caller"])
	var lead []string // what the caller hears first next round (invalid, no input)
	for tries := 1; ; tries++ {
		if len(number) >= nd.MinDigits && len(number) <= nd.MaxDigits {
			words, _ := r.speaker().digits(number)
			d, res := r.ask(concat(concat(concat(lead, nd.Prompts), words), nd.Confirm), nd.Timeout)
			switch {
			case res == gotHangup:
				r.traceAdd(nd, EvCallback, "", map[string]string{"result": "cancelled"})
				return "", errCallerGone
			case res == gotDigit && d.key == '1':
				r.moved(d)
				if err := cb.Confirm(number); err != nil {
					r.traceAdd(nd, EvCallback, "", map[string]string{"result": "refused", "error": err.Error(), "goto": nd.Failure})
					if nd.Failure == "" {
						r.hangup(nd, "callback refused")
					}
					return nd.Failure, nil
				}
				confirmed = true
				r.vars[nd.Var] = number
				r.traceAdd(nd, EvCallback, "", map[string]string{"result": "confirmed", "number": number})
				if err := r.play(nd.Done, ""); err != nil {
					return "", err
				}
				r.hangup(nd, "callback requested")
				r.res.Outcome = OutcomeCallback
				return "", nil
			case res == gotDigit && d.key == '2':
				r.moved(d)
				number, lead = "", nil
				continue // ask for the number at once: not a failed try
			case res == gotDigit:
				r.moved(d)
				r.traceAdd(nd, EvInvalid, string(d.key), nil)
				lead = nd.Invalid
			default:
				r.traceAdd(nd, EvNoInput, "", nil)
				lead = nd.NoInput
			}
		} else {
			entered, res := r.readNumber(concat(lead, nd.Enter), nd)
			switch {
			case res == gotHangup:
				r.traceAdd(nd, EvCallback, "", map[string]string{"result": "cancelled"})
				return "", errCallerGone
			case len(entered) >= nd.MinDigits && len(entered) <= nd.MaxDigits:
				number, lead = entered, nil
				continue // read it back for confirmation
			case entered == "" && res == gotTimeout:
				r.traceAdd(nd, EvNoInput, "", nil)
				lead = nd.NoInput
			default:
				r.traceAdd(nd, EvInvalid, entered, nil)
				lead = nd.Invalid
			}
		}
		if tries >= nd.Retries {
			r.traceAdd(nd, EvRetriesOut, "", map[string]string{"goto": nd.Failure})
			r.traceAdd(nd, EvCallback, "", map[string]string{"result": "cancelled"})
			if nd.Failure == "" {
				r.hangup(nd, "callback not confirmed")
			}
			return nd.Failure, nil
		}
	}
}

// readNumber plays prompts and reads digits until '#', the longest number
// or a pause; '*' starts again.
func (r *run) readNumber(prompts []string, nd *Node) (string, waitResult) {
	var buf []byte
	d, res := r.ask(prompts, nd.Timeout)
	for res == gotDigit {
		r.moved(d)
		switch {
		case d.key == '#':
			return string(buf), gotDigit
		case d.key == '*':
			buf = buf[:0]
		default:
			buf = append(buf, byte(d.key))
			if len(buf) > nd.MaxDigits {
				return string(buf), gotDigit
			}
		}
		d, res = r.await(nil, nd.InterDigit)
	}
	if res == gotTimeout && len(buf) > 0 {
		res = gotDigit // a pause ends the number
	}
	return string(buf), res
}

// enqueueCallback makes a new request for a caller who was not waiting.
func (r *run) enqueueCallback(nd *Node) (Callback, error) {
	cq, ok := r.in.Queuer.(CallbackQueuer)
	if !ok {
		return nil, fmt.Errorf("the ACD takes no callback requests")
	}
	req := QueueRequest{
		CallID: r.call.ID, Queue: r.expand(nd.Queue), Tier: r.expand(nd.Tier), Region: r.expand(nd.Region),
		Priority: nd.Priority, CallerNumber: r.vars["caller"], Dialled: r.vars["dialled"],
		Vars: maps.Clone(r.vars), Trace: r.snapshot(),
	}
	r.res.Queue = req.Queue
	cb, err := cq.EnqueueCallback(r.ctx, req)
	if err != nil {
		return nil, fmt.Errorf("callback in %q: %w", req.Queue, err)
	}
	return cb, nil
}

// offerCallback is the queue node's side: the caller pressed the callback
// digit. ok is false when the call cannot become a callback now (an agent
// is being rung for it): the caller simply keeps waiting.
func (r *run) offerCallback(nd *Node, qc QueuedCall, k rune) (next string, ok bool) {
	pk, can := qc.(PlaceKeeper)
	if !can {
		r.log.Warn("ivr: the ACD cannot keep a caller's place; callback digit ignored", "node", nd.ID)
		return "", false
	}
	cb, err := pk.KeepPlace(digitsOnly(r.vars["caller"]))
	if err != nil {
		r.traceAdd(nd, EvCallback, string(k), map[string]string{"result": "refused", "error": err.Error()})
		return "", false
	}
	r.pendingCallback = cb
	r.moved(keyAt(k))
	r.traceAdd(nd, EvCallback, string(k), map[string]string{"result": "requested", "goto": nd.CallbackNode})
	return nd.CallbackNode, true
}

// digitsOnly keeps the digits of a caller number ("+86 138-0000" → "860138…").
func digitsOnly(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, s)
}

// callbackOfferDue reports whether the queue node should offer a callback
// now: its wait reached CallbackAfter, or the expected wait is over
// CallbackWaitOver.
func callbackOfferDue(nd *Node, waited, expected time.Duration) bool {
	return (nd.CallbackAfter > 0 && waited >= nd.CallbackAfter) ||
		(nd.CallbackWaitOver > 0 && expected > nd.CallbackWaitOver)
}

// callbackWaitCheck spaces the expected-wait checks of callback_wait_over.
const callbackWaitCheck = 5 * time.Second
