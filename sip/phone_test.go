package sip

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// testPhone is a minimal SIP phone over UDP from a chosen loopback address,
// registering the way desk phones do: it keeps the last challenge and
// answers it again with the next nonce-count until told the nonce is stale.
type testPhone struct {
	t          *testing.T
	conn       *net.UDPConn
	target     string
	user, pass string
	chal       *digest.Challenge
	nc         int
	cseq       int
	callID     string
	// contact, if set, is the Contact's host:port instead of the socket's
	// own address (a phone behind NAT).
	contact string
	// Seen401 and SeenStale count challenges met, for assertions.
	Seen401, SeenStale int
}

func newTestPhone(t *testing.T, srcIP, target, user, pass string) *testPhone {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(srcIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testPhone{t: t, conn: c, target: target, user: user, pass: pass, callID: fmt.Sprintf("ph-%s-%d", user, time.Now().UnixNano())}
}

// register sends REGISTER (answering a challenge once) and returns the final status.
func (p *testPhone) register(expires int) int {
	p.t.Helper()
	for attempt := 0; attempt < 2; attempt++ {
		code, hdrs := p.send(expires)
		if code != 401 {
			return code
		}
		p.Seen401++
		ch, err := digest.ParseChallenge(hdrs["www-authenticate"])
		if err != nil {
			p.t.Fatalf("bad challenge %q: %v", hdrs["www-authenticate"], err)
		}
		if ch.Stale {
			p.SeenStale++
		}
		p.chal, p.nc = ch, 0
	}
	return 401
}

func (p *testPhone) send(expires int) (int, map[string]string) {
	p.t.Helper()
	p.cseq++
	local := p.conn.LocalAddr().String()
	contact := local
	if p.contact != "" {
		contact = p.contact
	}
	uri := "sip:" + p.target
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\n", uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%d-%d\r\n", local, time.Now().UnixNano(), p.cseq)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=t%s\r\nTo: <sip:%s@%s>\r\n", p.user, p.target, p.user, p.user, p.target)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s>\r\nExpires: %d\r\nMax-Forwards: 70\r\n", p.callID, p.cseq, p.user, contact, expires)
	if p.chal != nil {
		p.nc++
		cr, err := digest.Digest(p.chal, digest.Options{Method: "REGISTER", URI: uri, Username: p.user, Password: p.pass, Count: p.nc})
		if err != nil {
			p.t.Fatal(err)
		}
		fmt.Fprintf(&b, "Authorization: %s\r\n", cr.String())
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := p.conn.WriteToUDP([]byte(b.String()), net.UDPAddrFromAddrPort(mustAddrPort(p.t, p.target))); err != nil {
		p.t.Fatal(err)
	}
	buf := make([]byte, 8192)
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := p.conn.Read(buf)
		if err != nil {
			p.t.Fatalf("no answer to REGISTER from %s: %v", local, err)
		}
		lines := strings.Split(string(buf[:n]), "\r\n")
		f := strings.Fields(lines[0])
		if len(f) < 2 {
			continue
		}
		code, _ := strconv.Atoi(f[1])
		hdrs := map[string]string{}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				hdrs[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if code < 200 || !strings.HasPrefix(hdrs["cseq"], strconv.Itoa(p.cseq)+" ") {
			continue // provisional, or a late answer to an earlier request
		}
		return code, hdrs
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
