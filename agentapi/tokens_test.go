package agentapi

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotlinecc/hotline/acd"
)

// A desktop's token outlives the server: a new server (a restarted engine:
// a fresh ACD, the same key and state file) resumes it, signs the agent in
// again and hands out a fresh token; the old token is then spent, a
// logged-out token stays dead across the next restart, and a token signed
// with another key or for a removed account is refused.
func TestSessionTokenSurvivesRestart(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	state := filepath.Join(t.TempDir(), "sessions.json")
	persist := func(c *Config) { c.SessionKey, c.SessionState = key, state }

	e1 := newEnv(t, persist)
	_, r := e1.login(t, "1001")
	t1 := r.str("token")
	if !strings.HasPrefix(t1, tokenPrefix) {
		t.Fatalf("token %q is not a signed token", t1)
	}
	_, rs := e1.login(t, "9001")
	s1 := rs.str("token")
	_ = e1.srv.Close() // the engine stops

	e2 := newEnv(t, persist) // and starts again: the ACD knows nobody
	if st := e2.state(t, "1001"); st != acd.LoggedOut {
		t.Fatalf("fresh ACD has 1001 %s", st)
	}
	d := e2.dial(t)
	res := d.must("resume", "token", t1)
	t2 := res.str("token")
	if t2 == "" || t2 == t1 {
		t.Fatalf("resume after restart gave token %q (old %q); want a fresh one", t2, t1)
	}
	if seat := res.obj("seat"); seat.str("state") != string(acd.Ready) || seat.str("agent") != "1001" {
		t.Fatalf("seat after resume: %v", seat)
	}
	if st := e2.state(t, "1001"); st != acd.Ready {
		t.Fatalf("1001 not signed in again: %s", st)
	}
	d.must("set_state", "state", "not_ready", "reason", "meeting")
	// The old token is spent: a second desktop cannot come back with it.
	e2.dial(t).refused(CodeInvalidToken, "resume", "token", t1)
	// Supervisors (the wallboard) come back too.
	sup := e2.dial(t)
	if r := sup.must("resume", "token", s1); r.str("role") != string(RoleSupervisor) {
		t.Fatalf("supervisor resume: %v", r)
	}
	// Within the same process the new token resumes as before, state kept.
	again := e2.dial(t)
	if seat := again.must("resume", "token", t2).obj("seat"); seat.str("state") != string(acd.NotReady) {
		t.Fatalf("seat on a second resume: %v", seat)
	}
	if st := d.closeStatus(); st != CloseTakenOver {
		t.Fatalf("the replaced connection closed with %v", st)
	}
	again.must("logout")
	_ = e2.srv.Close()

	e3 := newEnv(t, persist)
	e3.dial(t).refused(CodeInvalidToken, "resume", "token", t2)
	// Another key's token, and a forged one.
	other := newEnv(t, func(c *Config) { c.SessionKey = []byte("another key, another centre......") })
	_, ro := other.login(t, "1002")
	e3.dial(t).refused(CodeInvalidToken, "resume", "token", ro.str("token"))
	e3.dial(t).refused(CodeInvalidToken, "resume", "token", tokenPrefix+"eyJhIjoiMTAwMiIsImkiOjEsIm4iOiJ4In0.AAAA")
	// A removed account's token.
	_, r2 := e3.login(t, "1002")
	t3 := r2.str("token")
	_ = e3.srv.Close()
	e4 := newEnv(t, persist)
	var kept []Account
	for _, a := range testAccounts() {
		if a.ID != "1002" {
			kept = append(kept, a)
		}
	}
	if _, err := e4.srv.SetAccounts(kept); err != nil {
		t.Fatal(err)
	}
	e4.dial(t).refused(CodeInvalidToken, "resume", "token", t3)
}

// A reload's accounts: a changed password or a removed account ends its
// sessions (the desktop is told), an unchanged account keeps its session,
// a new account can sign in, the old password no longer works; the break
// reasons the desktop offers change. A duplicate id changes nothing.
func TestSetAccounts(t *testing.T) {
	e := newEnv(t)
	c1, _ := e.login(t, "1001")
	c2, _ := e.login(t, "1002")
	c3, _ := e.login(t, "9002")
	// 1001's password changes, 1002 goes, 1006 comes, the rest stay.
	var next []Account
	for _, a := range testAccounts() {
		switch a.ID {
		case "1001":
			a.Password = "new1001"
		case "1002":
			continue
		}
		next = append(next, a)
	}
	next = append(next, Account{ID: "1006", Name: "New", Role: RoleAgent, Password: "pass1006",
		Profile: acd.AgentProfile{Skills: map[string]int{"general": 1}}})
	if _, err := e.srv.SetAccounts(append(append([]Account(nil), next...), next[0])); err == nil {
		t.Fatal("duplicate account accepted")
	}
	c2.must("ping") // the refused reload changed nothing
	ended, err := e.srv.SetAccounts(next)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ended, ",") != "1001,1002" {
		t.Fatalf("sessions ended for %v; want 1001 (password) and 1002 (removed)", ended)
	}
	for _, c := range []*wsc{c1, c2} {
		c.event("session ended", isEvent("session.ended"))
		if st := c.closeStatus(); st != CloseTakenOver {
			t.Fatalf("closed with %v", st)
		}
	}
	c3.must("ping")
	e.dial(t).refused(CodeBadCredentials, "login", "agent", "1001", "password", "pass1001")
	e.dial(t).must("login", "agent", "1001", "password", "new1001")
	e.dial(t).refused(CodeBadCredentials, "login", "agent", "1002", "password", "pass1002")
	e.login(t, "1006")

	e.srv.SetLists([]string{"general"}, []string{"coffee"})
	_, r := e.login(t, "1003")
	if br, _ := r["break_reasons"].([]any); len(br) != 1 || br[0] != "coffee" {
		t.Fatalf("break reasons after SetLists: %v", r["break_reasons"])
	}
}

// A tier with nothing in the window has no service level on the
// wallboard: actual is null and no_data true (not 100 %).
func TestServiceLevelNoData(t *testing.T) {
	e := newEnv(t)
	sup, _ := e.login(t, "9001")
	r := sup.must("list_queues")
	sls, _ := r.obj("queues")["service_levels"].([]any)
	if len(sls) == 0 {
		t.Fatalf("no service levels: %v", r)
	}
	for _, x := range sls {
		sl := msg(x.(map[string]any))
		if sl["actual"] != nil || sl["no_data"] != true || sl["met"] != false {
			t.Fatalf("tier with no calls: %v", sl)
		}
	}
}
