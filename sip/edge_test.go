package sip

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuf collects log output from several goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMalformedRequestsAnsweredAndLoggedShort sends requests that break
// RFC 3261 and checks the answer a peer gets and what reaches the log.
func TestMalformedRequestsAnsweredAndLoggedShort(t *testing.T) {
	var logs lockedBuf
	env := newTestEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}, &bridgeHandler{})
	const head = "Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-ID\nMax-Forwards: 70\nContent-Length: 0\n"
	tests := []struct {
		name, msg, want string
	}{
		{"SIP/3.0", "OPTIONS sip:hotline@127.0.0.1 SIP/3.0\nFrom: <sip:p@127.0.0.1>;tag=1\nTo: <sip:hotline@127.0.0.1>\nCall-ID: v3\nCSeq: 1 OPTIONS\n", "SIP/2.0 505 Version Not Supported"},
		{"INVITE SIP/3.0", "INVITE sip:10010@127.0.0.1 SIP/3.0\nFrom: <sip:p@127.0.0.1>;tag=1\nTo: <sip:10010@127.0.0.1>\nCall-ID: iv3\nCSeq: 1 INVITE\nContact: <sip:a@LOCAL>\n", "SIP/2.0 505 Version Not Supported"},
		{"INVITE without To", "INVITE sip:10010@127.0.0.1 SIP/2.0\nFrom: <sip:p@127.0.0.1>;tag=1\nCall-ID: nt\nCSeq: 1 INVITE\nContact: <sip:a@LOCAL>\n", "SIP/2.0 400 Missing To Header"},
		{"INVITE without From", "INVITE sip:10010@127.0.0.1 SIP/2.0\nTo: <sip:10010@127.0.0.1>\nCall-ID: nf\nCSeq: 1 INVITE\nContact: <sip:a@LOCAL>\n", "SIP/2.0 400 Missing From Header"},
		{"OPTIONS with unreadable CSeq", "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\nFrom: <sip:p@127.0.0.1>;tag=1\nTo: <sip:hotline@127.0.0.1>\nCall-ID: bc\nCSeq: abc OPTIONS\n", "SIP/2.0 400 Bad CSeq Number"},
		{"OPTIONS with an INVITE CSeq", "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\nFrom: <sip:p@127.0.0.1>;tag=1\nTo: <sip:hotline@127.0.0.1>\nCall-ID: bc2\nCSeq: 1 INVITE\n", "SIP/2.0 400 CSeq Method Does Not Match"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, rest, _ := strings.Cut(tc.msg, "\n")
			msg := first + "\n" + strings.ReplaceAll(head, "ID", string(rune('a'+i))) + rest + "\n"
			got, _, _ := strings.Cut(rawSIP(t, env.addr, msg), "\r\n")
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// A flood of junk: counted, never logged whole, one warning summary.
	big := strings.Repeat("A", 3000)
	for i := 0; i < 20; i++ {
		_ = sendUDP(t, env.addr, big)
	}
	if r := options(t, env.addr, 1); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("server stopped answering after junk: %q", r)
	}
	if n := env.srv.Stats.Malformed.Load(); n < int64(len(tests))+20 {
		t.Fatalf("hotline_sip_malformed_total source counted %d, want at least %d", n, len(tests)+20)
	}
	out := logs.String()
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 1000 {
			t.Fatalf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
	if n := strings.Count(out, "malformed SIP messages dropped"); n != 1 {
		t.Fatalf("%d warning summaries, want 1 (rate-limited):\n%s", n, out)
	}
	if strings.Contains(out, "level=ERROR") {
		t.Fatalf("malformed input logged at ERROR:\n%s", out)
	}
}

// sendUDP fires one datagram without waiting for an answer.
func sendUDP(t *testing.T, addr, msg string) error {
	t.Helper()
	c, err := dialUDP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}
