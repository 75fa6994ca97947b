package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/sip"
)

// TestDialSilentPeerThenShutdown: dials to a peer that sends 100 Trying and
// then nothing (it ignores our CANCEL too) are given up, then the engine
// stops while their CANCEL transactions are still open. Each must end as a
// failed dial; none may crash the process (sipgo's cancel path dereferences
// the missing response of a CANCEL transaction that terminates under it).
func TestDialSilentPeerThenShutdown(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := silent.ReadFrom(buf)
			if err != nil {
				return
			}
			if msg := string(buf[:n]); strings.HasPrefix(msg, "INVITE ") {
				_, _ = silent.WriteTo([]byte(trying(msg)), from)
			}
		}
	}()
	srv := startServer(t)
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		leg, err := srv.Dial(ctx, sip.DialRequest{URI: fmt.Sprintf("sip:9%03d@%s", i, silent.LocalAddr()), CallerID: "10010"})
		cancel()
		if err == nil {
			leg.Close()
			t.Fatalf("dial %d to a silent peer answered", i)
		}
	}
	// t.Cleanup stops the server now, with the ten transactions open.
}

// trying is the 100 Trying a proxy would send: the request's Via, From,
// To, Call-ID and CSeq copied.
func trying(req string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 100 Trying\r\n")
	for _, line := range strings.Split(req, "\r\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
