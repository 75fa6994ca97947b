package sip

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Malformed input. sipgo logs every datagram it cannot parse at ERROR with
// the whole datagram (tens of KB a line from a flood); Hotline counts them
// (Stats.Malformed, hotline_sip_malformed_total), logs each at DEBUG with a
// short excerpt, and at most one WARN summary a minute. Requests that parse
// but break the rules a transaction needs are answered here: a SIP version
// other than 2.0 gets 505, a request without From, To or Call-ID or with a
// CSeq that is not "number METHOD" (for this method) gets 400 naming what
// is wrong.

// excerptLen bounds what is logged of a bad message.
const excerptLen = 120

// summaryEvery spaces the warning summaries of malformed traffic.
const summaryEvery = time.Minute

func excerpt(s string) string {
	if len(s) > excerptLen {
		s = s[:excerptLen] + "…"
	}
	return strconv.Quote(s)
}

// malformedLog counts malformed messages and writes the rate-limited summary.
type malformedLog struct {
	log   *slog.Logger
	count *atomic.Int64

	mu          sync.Mutex
	lastSummary time.Time
	since       int64 // malformed since the last summary
	lastReason  string
}

// note records one malformed message from src (may be "").
func (m *malformedLog) note(src, reason, data string) {
	m.count.Add(1)
	m.log.Debug("sip: malformed message dropped", "source", src, "reason", reason, "excerpt", excerpt(data))
	m.mu.Lock()
	m.since++
	m.lastReason = reason
	now := time.Now()
	if now.Sub(m.lastSummary) < summaryEvery {
		m.mu.Unlock()
		return
	}
	n, last := m.since, m.lastReason
	m.since, m.lastSummary = 0, now
	m.mu.Unlock()
	m.log.Warn("sip: malformed SIP messages dropped (details at debug level)", "count", n, "last_reason", last, "every", summaryEvery)
}

// sipgoHandler is the slog handler sipgo logs through: it turns sipgo's
// per-message parse errors into malformedLog notes and truncates any long
// value in the rest, so no peer can write big lines into the log.
type sipgoHandler struct {
	next slog.Handler
	m    *malformedLog
}

func (h *sipgoHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// Parse errors come at ERROR and must reach Handle to be counted.
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "failed to parse", "Server tx failed to handle request", "Failed to send stateless 400 for malformed request":
		var data, reason, src string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "data", "req":
				data = a.Value.String()
			case "error":
				reason = a.Value.String()
			case "raddr", "source":
				src = a.Value.String()
			}
			return true
		})
		h.m.note(src, truncateStr(reason, 200), data)
		return nil
	}
	level := r.Level
	if r.Message == "Read error" || r.Message == "Read filter error" {
		// A peer that stalls or drops its connection is routine at the edge
		// (counted by the connection table), not an error of ours.
		level = slog.LevelDebug
	}
	if !h.next.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindString && len(a.Value.String()) > 2*excerptLen {
			a.Value = slog.StringValue(excerpt(a.Value.String()))
		} else if a.Value.Kind() == slog.KindAny {
			if s := a.Value.String(); len(s) > 4*excerptLen {
				a.Value = slog.StringValue(excerpt(s))
			}
		}
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *sipgoHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sipgoHandler{next: h.next.WithAttrs(as), m: h.m}
}

func (h *sipgoHandler) WithGroup(name string) slog.Handler {
	return &sipgoHandler{next: h.next.WithGroup(name), m: h.m}
}

// readFilter runs on every datagram and stream read before sipgo parses
// it. On UDP it answers, statelessly, the requests sipgo's parser would drop
// without a word because their CSeq is unreadable. It never returns an
// error: for UDP that would stop sipgo's read loop.
func (s *Server) readFilter(p sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if !strings.EqualFold(p.Transport, "udp") || len(data) < 8 || bytes.HasPrefix(data, []byte("SIP/")) {
		return data, nil
	}
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	method, _, _ := strings.Cut(lines[0], " ")
	if method == "" || method == "ACK" {
		return data, nil
	}
	var cseq string
	found := false
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "cseq") {
			cseq, found = strings.TrimSpace(v), true
			break
		}
	}
	if !found {
		return data, nil // sipgo's transaction layer answers a missing CSeq with 400
	}
	if reason := checkCSeq(cseq, method); reason != "" {
		s.malformed.note(p.RemoteAddr.String(), reason, string(head))
		s.statelessReply(p.RemoteAddr, lines, 400, reason)
		return nil, nil
	}
	return data, nil
}

// checkCSeq returns why a CSeq value is unusable ("" when fine).
func checkCSeq(v, method string) string {
	f := strings.Fields(v)
	if len(f) != 2 {
		return "Bad CSeq"
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil || n >= 1<<31 {
		return "Bad CSeq Number"
	}
	if f[1] != method {
		return "CSeq Method Does Not Match"
	}
	return ""
}

// statelessReply answers a request the transaction layer never saw, copying
// the headers RFC 3261 §8.2.6.2 says a response carries.
func (s *Server) statelessReply(to net.Addr, lines []string, code int, reason string) {
	if s.udp == nil {
		return
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n")
	for _, l := range lines[1:] {
		k, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			if len(l) <= 1024 {
				b.WriteString(l + "\r\n")
			}
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := s.udp.WriteTo([]byte(b.String()), to); err != nil {
		s.log.Debug("sip: stateless reply", "to", to, "err", err)
	}
}

// validated wraps a request handler with the checks every request needs
// before a transaction's owner can use it.
func (s *Server) validated(next func(*sipmsg.Request, sipmsg.ServerTransaction)) func(*sipmsg.Request, sipmsg.ServerTransaction) {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		reason, code := "", 0
		switch {
		case req.SipVersion != "SIP/2.0":
			code, reason = 505, "Version Not Supported"
		case req.From() == nil:
			code, reason = sipmsg.StatusBadRequest, "Missing From Header"
		case req.To() == nil:
			code, reason = sipmsg.StatusBadRequest, "Missing To Header"
		case req.CallID() == nil || req.CallID().Value() == "":
			code, reason = sipmsg.StatusBadRequest, "Missing Call-ID Header"
		case req.CSeq() == nil || req.CSeq().MethodName != req.Method:
			code, reason = sipmsg.StatusBadRequest, "CSeq Method Does Not Match"
		}
		if code == 0 {
			next(req, tx)
			return
		}
		s.malformed.note(req.Source(), reason, req.StartLine())
		if req.IsAck() {
			return
		}
		res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
		res.SipVersion = "SIP/2.0"
		if err := tx.Respond(res); err != nil {
			s.log.Debug("sip: respond", "code", code, "err", err)
		}
	}
}
