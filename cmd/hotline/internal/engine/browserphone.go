package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/webrtc"
)

// The browser phone: the WebRTC endpoint (sip/webrtc), its signalling as
// desktop requests (webrtc.*, agentapi extensions) and events pushed to
// the one page that is the phone, and the choice between the page and the
// SIP phone per agent (agents' phone: sip | browser | auto).

// buildWebRTC binds the browser phones' shared ICE port on the media
// address.
func (e *Engine) buildWebRTC(ip netip.Addr, codecs []media.Codec) error {
	ep, err := webrtc.New(webrtc.Config{
		SIP: e.sip, IP: ip, Port: e.cfg.Media.WebRTCPort, Codecs: codecs,
		Grace: e.cfg.Media.WebRTCGrace.D(), Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("engine: media.webrtc_port: %w", err)
	}
	e.webrtc = ep
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_webrtc_pages", Help: "Desktop connections registered as their user's phone."},
			func() float64 { return float64(ep.Pages()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_webrtc_legs", Help: "Browser legs not yet ended (ringing, connected, or waiting to re-attach)."},
			func() float64 { return float64(ep.Legs()) }),
	}
	for event, c := range map[string]*atomic.Uint64{"answered": &ep.Counters.Answered, "failed": &ep.Counters.Failed,
		"detached": &ep.Counters.Detached, "reattached": &ep.Counters.Reattached, "vanished": &ep.Counters.Vanished} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hotline_webrtc_leg_events_total",
			Help:        "Browser legs answered, failed to connect, detached (page or connection gone), re-attached within the grace, or ended when it ran out.",
			ConstLabels: prometheus.Labels{"event": event}}, func() float64 { return float64(c.Load()) }))
	}
	e.metrics.reg.MustRegister(cs...)
	return nil
}

// WebRTCAddr is where browser phones send their media (ICE host candidate).
func (e *Engine) WebRTCAddr() netip.AddrPort { return e.webrtc.Addr() }

// browserPhones is call control's callctl.Browsers.
type browserPhones struct{ e *Engine }

func (b browserPhones) Dial(ctx context.Context, req sip.DialRequest, auto bool) (*sip.Leg, bool, error) {
	ep := b.e.webrtc
	if ep == nil {
		return nil, false, nil
	}
	// The plan in service: a reload changes where the next call rings.
	a, _ := b.e.agent(req.User)
	switch a.Phone {
	case "sip":
		return nil, false, nil
	case "browser":
	default: // auto
		if !ep.Registered(req.User) {
			return nil, false, nil
		}
	}
	auto = auto || asksAutoAnswer(req.Headers)
	leg, err := ep.Dial(ctx, webrtc.DialRequest{DialRequest: req, AutoAnswer: auto})
	return leg, true, err
}

// asksAutoAnswer: the request carries the auto-answer headers SIP phones get.
func asksAutoAnswer(h map[string]string) bool {
	return strings.Contains(h["Call-Info"], "answer-after") || strings.Contains(h["Alert-Info"], "autoanswer")
}

// webrtcRequest is the body of every webrtc.* request.
type webrtcRequest struct {
	Leg    string `json:"leg"`
	SDP    string `json:"sdp"`
	Reason string `json:"reason"`
	// Candidate is a trickled ICE candidate (accepted, not needed: the
	// engine is ICE-lite).
	Candidate json.RawMessage `json:"candidate"`
}

// webrtcExtensions are the browser phone's desktop requests (PROTOCOL.md,
// "Browser phone").
func (e *Engine) webrtcExtensions() map[string]agentapi.Extension {
	page := func(who agentapi.Caller) webrtc.Page {
		return webrtc.Page{Gone: who.Gone, Push: func(s webrtc.Signal) bool {
			return who.Push(agentapi.Event{Event: "webrtc." + s.Kind, Agent: who.ID, Data: s})
		}}
	}
	ext := func(fn func(who agentapi.Caller, r webrtcRequest) (any, error)) agentapi.Extension {
		return agentapi.Extension{Any: true, Fn: func(_ context.Context, who agentapi.Caller, body json.RawMessage) (any, error) {
			var r webrtcRequest
			if len(body) > 0 {
				if err := json.Unmarshal(body, &r); err != nil {
					return nil, fmt.Errorf("webrtc request: %v: %w", err, agentapi.ErrBadRequest)
				}
			}
			if e.webrtc == nil || who.Push == nil {
				return nil, fmt.Errorf("webrtc: browser phone not available: %w", errors.ErrUnsupported)
			}
			data, err := fn(who, r)
			return data, webrtcError(err)
		}}
	}
	return map[string]agentapi.Extension{
		"webrtc.register": ext(func(who agentapi.Caller, _ webrtcRequest) (any, error) {
			if a, _ := e.agent(who.ID); a.Phone == "sip" {
				return nil, fmt.Errorf("agent %s: phone is sip in the configuration: %w", who.ID, agentapi.ErrBadRequest)
			}
			n, err := e.webrtc.Register(who.ID, page(who))
			return map[string]any{"reattached": n, "ice": e.webrtc.Addr().String()}, err
		}),
		"webrtc.unregister": ext(func(who agentapi.Caller, _ webrtcRequest) (any, error) {
			e.webrtc.Unregister(who.ID, page(who))
			return nil, nil
		}),
		"webrtc.answer": ext(func(who agentapi.Caller, r webrtcRequest) (any, error) {
			return nil, e.webrtc.Answer(who.ID, page(who), r.Leg, r.SDP)
		}),
		"webrtc.candidate": ext(func(who agentapi.Caller, r webrtcRequest) (any, error) {
			return nil, e.webrtc.Candidate(who.ID, r.Leg)
		}),
		"webrtc.hangup": ext(func(who agentapi.Caller, r webrtcRequest) (any, error) {
			return nil, e.webrtc.Hangup(who.ID, r.Leg, r.Reason)
		}),
		"webrtc.stats": ext(func(who agentapi.Caller, r webrtcRequest) (any, error) {
			return e.webrtc.Stats(who.ID, r.Leg)
		}),
	}
}

// webrtcError maps the endpoint's errors to the protocol's codes.
func webrtcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webrtc.ErrUnknownLeg):
		return fmt.Errorf("%w: %w", err, agentapi.ErrUnknownCall)
	case errors.Is(err, webrtc.ErrLegState):
		return fmt.Errorf("%w: %w", err, agentapi.ErrCallState)
	case errors.Is(err, webrtc.ErrBadSDP):
		return fmt.Errorf("%w: %w", err, agentapi.ErrBadRequest)
	}
	return err
}

// extensions are every desktop request the engine adds.
func (e *Engine) extensions() map[string]agentapi.Extension {
	m := e.webrtcExtensions()
	for k, v := range e.campaignExtensions() {
		m[k] = v
	}
	return m
}
