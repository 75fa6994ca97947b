package sip

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/hotlinecc/hotline/sip/guard"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// TestBruteForceRegisterBanned: 1,000 wrong REGISTERs from 127.0.0.2 are
// banned after the threshold (the right password then refused too), while
// the phone of the same user on 127.0.0.1 (SIPp and a second phone)
// registers throughout.
func TestBruteForceRegisterBanned(t *testing.T) {
	env := newTestEnv(t, nil, &bridgeHandler{})
	attacker := newTestPhone(t, "127.0.0.2", env.addr, "1001", "guess")
	phone := newTestPhone(t, "127.0.0.1", env.addr, "1001", "pass1001")
	contact := sipptest.FreeUDPPort(t)
	codes := map[int]int{}
	for i := 1; i <= 1000; i++ {
		attacker.pass = "guess" + strconv.Itoa(i)
		codes[attacker.register(300)]++
		if i%100 == 0 {
			if c := phone.register(300); c != 200 {
				t.Fatalf("after %d attacker attempts the phone on 127.0.0.1 got %d", i, c)
			}
		}
		if i == 500 {
			registerAgent(t, env, "1001", "pass1001", contact, 300) // SIPp: exits non-zero unless 200
		}
	}
	if codes[403] != 1000 {
		t.Fatalf("attacker answers %v, want 1000 × 403", codes)
	}
	st := env.srv.guard.Stats()
	if got := st.Failures[guard.SurfaceSIPRegister]; got != guard.DefaultMaxFailures {
		t.Fatalf("%d passwords were checked for the attacker, want %d (then banned)", got, guard.DefaultMaxFailures)
	}
	if st.ActiveBans != 1 || !env.srv.guard.Banned(netip.MustParseAddr("127.0.0.2")) {
		t.Fatalf("bans %+v", st)
	}
	// Banned means banned: the right password from the attacker's address is refused.
	attacker.pass = "pass1001"
	if c := attacker.register(300); c != 403 {
		t.Fatalf("right password from a banned source: %d, want 403", c)
	}
	if b := env.srv.Stats.Banned.Load(); b < 990 {
		t.Fatalf("only %d requests refused by the ban", b)
	}
	if !env.srv.Registrar().Registered("1001") {
		t.Fatal("the phone's registration was lost")
	}
}

// TestRegistrationSurvivesRestart: a phone registered before the engine
// restarts refreshes afterwards with its old credentials, gets 401
// stale=true (the old nonce is unknown to the new process) and
// re-registers; never a 403.
func TestRegistrationSurvivesRestart(t *testing.T) {
	port := sipptest.FreeUDPPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	fixed := func(c *Config) { c.UDPAddr, c.TCPAddr = addr, "" }
	env := newTestEnv(t, fixed, &bridgeHandler{})
	phone := newTestPhone(t, "127.0.0.1", addr, "1001", "pass1001")
	if c := phone.register(300); c != 200 {
		t.Fatalf("first registration: %d", c)
	}
	if c := phone.register(300); c != 200 || phone.Seen401 != 1 {
		t.Fatalf("refresh on the same nonce: %d after %d challenges (want 200 with none)", c, phone.Seen401-1)
	}
	env.stop()
	env2 := newTestEnv(t, fixed, &bridgeHandler{})
	if c := phone.register(300); c != 200 {
		t.Fatalf("refresh after restart: %d, want 200", c)
	}
	if phone.SeenStale != 1 {
		t.Fatalf("stale challenges %d, want 1", phone.SeenStale)
	}
	if !env2.srv.Registrar().Registered("1001") {
		t.Fatal("not registered on the new process")
	}
	if n := env2.srv.Stats.AuthFailures.Load(); n != 0 {
		t.Fatalf("%d authentication failures counted for a phone with the right password", n)
	}
}
