package sip

import (
	"errors"
	"fmt"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestDigestVerify(t *testing.T) {
	a := newAuthenticator("hotline", nil)
	var reqURI sipmsg.Uri
	if err := sipmsg.ParseUri("sip:127.0.0.1", &reqURI); err != nil {
		t.Fatal(err)
	}
	creds := func(u string) (Credential, bool) {
		if u == "1001" {
			return Credential{User: u, HA1: HA1(u, "hotline", "pass1001")}, true
		}
		return Credential{}, false
	}
	nonce := a.nonce()
	respFor := func(user, pass, nonce, uri string, nc int) string {
		ha1 := HA1(user, "hotline", pass)
		ha2 := md5hex("REGISTER:" + uri)
		r := md5hex(ha1 + ":" + nonce + fmt.Sprintf(":%08x", nc) + ":abc:auth:" + ha2)
		return fmt.Sprintf(`Digest username="%s", realm="hotline", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%08x, cnonce="abc"`, user, nonce, uri, r, nc)
	}
	nc := 0
	resp := func(user, pass, nonce string) string {
		nc++
		return respFor(user, pass, nonce, "sip:127.0.0.1", nc)
	}
	tests := []struct {
		name    string
		header  string
		wantErr bool
		stale   bool
	}{
		{name: "good", header: resp("1001", "pass1001", nonce)},
		{name: "wrong password", header: resp("1001", "nope", nonce), wantErr: true},
		{name: "unknown user", header: resp("2002", "pass1001", nonce), wantErr: true},
		{name: "forged nonce", header: resp("1001", "pass1001", "Zm9yZ2Vk"), wantErr: true, stale: true},
		{name: "another secret's nonce", header: resp("1001", "pass1001", newAuthenticator("hotline", nil).nonce()), wantErr: true, stale: true},
		{name: "digest for another uri", header: respFor("1001", "pass1001", nonce, "sip:10010@127.0.0.1", 50), wantErr: true},
		{name: "same uri with default port", header: respFor("1001", "pass1001", nonce, "sip:127.0.0.1:5060", 60)},
		{name: "replayed nonce-count", header: respFor("1001", "pass1001", nonce, "sip:127.0.0.1", 60), wantErr: true, stale: true},
		{name: "next nonce-count", header: respFor("1001", "pass1001", nonce, "sip:127.0.0.1", 61)},
		{name: "other realm", header: `Digest username="1001", realm="evil", nonce="x", uri="sip:a", response="0"`, wantErr: true},
		{name: "garbage", header: `Basic abc`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := a.verify(tc.header, "REGISTER", reqURI, creds)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if errors.Is(err, errStale) != tc.stale {
				t.Fatalf("err = %v, want stale %v", err, tc.stale)
			}
			if err == nil && c.User != "1001" {
				t.Fatalf("user %q", c.User)
			}
		})
	}
	// A nonce older than its life is stale, so phones retry without prompting.
	old := a.now
	a.now = func() time.Time { return old().Add(-2 * nonceLife) }
	staleNonce := a.nonce()
	a.now = old
	if _, err := a.verify(resp("1001", "pass1001", staleNonce), "REGISTER", reqURI, creds); !errors.Is(err, errStale) {
		t.Fatalf("stale nonce: %v", err)
	}
	// Nodes sharing a configured secret accept each other's nonces.
	n1, n2 := newAuthenticator("hotline", []byte("shared")), newAuthenticator("hotline", []byte("shared"))
	if _, err := n2.verify(respFor("1001", "pass1001", n1.nonce(), "sip:127.0.0.1", 1), "REGISTER", reqURI, creds); err != nil {
		t.Fatalf("nonce from a node with the same secret: %v", err)
	}
}

func TestRegistrarExpiry(t *testing.T) {
	r := NewRegistrar()
	now := time.Now()
	r.now = func() time.Time { return now }
	reg := func(port, expires int) {
		req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Host: "127.0.0.1"})
		req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: port}})
		req.AppendHeader(sipmsg.NewHeader("Expires", fmt.Sprint(expires)))
		r.update("1001", req, "127.0.0.1:1")
	}
	reg(7001, 60)
	reg(7002, 120)
	if n := len(r.Contacts("1001")); n != 2 {
		t.Fatalf("contacts %d", n)
	}
	now = now.Add(90 * time.Second)
	if cs := r.Contacts("1001"); len(cs) != 1 || cs[0].Contact.Port != 7002 {
		t.Fatalf("after 90 s: %+v", cs)
	}
	now = now.Add(60 * time.Second)
	if r.Registered("1001") {
		t.Fatal("still registered after every contact expired")
	}
	// Expires below the minimum is raised, not refused: a phone asking 5 s gets 30 s.
	reg(7003, 5)
	now = now.Add(20 * time.Second)
	if !r.Registered("1001") {
		t.Fatal("short expiry not raised to the minimum")
	}
}

func TestParseInfoDTMF(t *testing.T) {
	tests := map[string]rune{"Signal=5\r\nDuration=160": '5', "Signal= *": '*', "10": '*', "11": '#', "#": '#', "7": '7'}
	for body, want := range tests {
		if got, ok := parseInfoDTMF(body); !ok || got != want {
			t.Errorf("%q: got %q ok=%v want %q", body, got, ok, want)
		}
	}
	for _, bad := range []string{"", "Signal=xx", "Z", "Signal=55"} {
		if _, ok := parseInfoDTMF(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
