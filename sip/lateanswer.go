package sip

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// A phone may answer an INVITE we no longer want: our CANCEL crossed its
// 200 OK, another contact of the same user won the fork, or we stopped
// waiting. RFC 3261 §15 leaves us one correct move: ACK the 2xx (or the
// phone retransmits it and shows a connected call until its timer fires)
// and then BYE the dialog. Three places catch such answers: the dial that
// gave up while its INVITE transaction was still alive (releaseLateAnswer),
// and the transaction layer, for a 2xx that arrives after the transaction
// is gone (onStrayResponse).

// releaseLateAnswer ACKs and BYEs the 2xx an abandoned dialog received.
// It reports whether there was one.
func (s *Server) releaseLateAnswer(dcs *sipgo.DialogClientSession) bool {
	r := dcs.InviteResponse
	if r == nil || !r.IsSuccess() {
		return false
	}
	s.Stats.LateAnswers.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	if err := dcs.Ack(ctx); err != nil {
		s.log.Debug("sip: ack of an answer we no longer wanted", "call_id", callIDOf(r), "err", err)
	}
	if err := dcs.Bye(ctx); err != nil {
		s.log.Debug("sip: bye of an answer we no longer wanted", "call_id", callIDOf(r), "err", err)
	}
	return true
}

// onStrayResponse takes responses no client transaction claims. A 2xx to
// an INVITE is either a retransmission for a live dialog whose ACK was
// lost (ACK again) or an answer to a dialog we gave up on (ACK, then BYE);
// anything else is a late retransmission and is dropped.
func (s *Server) onStrayResponse(r *sipmsg.Response) {
	cseq := r.CSeq()
	if !r.IsSuccess() || cseq == nil || cseq.MethodName != sipmsg.INVITE {
		s.log.Debug("sip: stray response dropped", "response", r.Short())
		return
	}
	if v, ok := s.legs.Load(callIDOf(r)); ok {
		if leg := v.(*Leg); leg.dcs != nil && leg.Answered() && leg.EndCause() == "" {
			ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
			defer cancel()
			if err := leg.dcs.Ack(ctx); err != nil {
				s.log.Debug("sip: re-ack", "call_id", leg.ID, "err", err)
			}
			return
		}
	}
	s.Stats.LateAnswers.Add(1)
	s.wg.Add(1)
	go func() { // the BYE waits for its answer: not on the transport's goroutine
		defer s.wg.Done()
		if err := s.ackAndByeStateless(r); err != nil {
			s.log.Info("sip: could not release an unwanted answer", "call_id", callIDOf(r), "err", err)
		}
	}()
}

// ackAndByeStateless builds the ACK and BYE of a 2xx from the response
// alone: its Contact is the remote target, its From/To/Call-ID name the
// dialog, its Record-Route (reversed) is the route set.
func (s *Server) ackAndByeStateless(r *sipmsg.Response) error {
	contact := r.Contact()
	if contact == nil {
		return fmt.Errorf("2xx without Contact")
	}
	build := func(method sipmsg.RequestMethod, seq uint32) *sipmsg.Request {
		req := sipmsg.NewRequest(method, *contact.Address.Clone())
		hdrs := r.GetHeaders("Record-Route")
		for i := len(hdrs) - 1; i >= 0; i-- {
			req.AppendHeader(sipmsg.NewHeader("Route", hdrs[i].Value()))
		}
		req.AppendHeader(sipmsg.HeaderClone(r.From()))
		req.AppendHeader(sipmsg.HeaderClone(r.To()))
		req.AppendHeader(sipmsg.HeaderClone(r.CallID()))
		req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: method})
		req.SetTransport(r.Transport())
		return req
	}
	seq := r.CSeq().SeqNo
	if err := s.client.WriteRequest(build(sipmsg.ACK, seq)); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	if _, err := s.client.Do(ctx, build(sipmsg.BYE, seq+1)); err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	return nil
}

func callIDOf(m sipmsg.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}
