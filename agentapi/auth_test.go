package agentapi

import (
	"testing"
	"time"
)

func TestSessionsExpireOnlyWhileDisconnected(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := newSessions(time.Hour, func() time.Time { return now })
	sup := mustAccount(t, Account{ID: "9001", Role: RoleSupervisor, Password: "p"})
	agent := mustAccount(t, Account{ID: "1001", Role: RoleAgent, Password: "p"})
	c1, c2 := &client{}, &client{}
	connected, _, _ := ss.open(sup, c1)
	gone, _, _ := ss.open(sup, c2)
	ss.detach(gone, c2)
	a1, _, _ := ss.open(agent, c1)
	a2, old, _ := ss.open(agent, c2)
	if old != c1 || ss.valid(a1) || !ss.valid(a2) {
		t.Errorf("second agent session: replaced conn %v, first valid %v, second valid %v", old, ss.valid(a1), ss.valid(a2))
	}
	now = now.Add(2 * time.Hour)
	ss.expire()
	if !ss.valid(connected) || ss.valid(gone) {
		t.Errorf("after expiry: connected valid %v (want true), disconnected valid %v (want false)", ss.valid(connected), ss.valid(gone))
	}
	if _, _, ok := ss.resume(gone.token, c1); ok {
		t.Errorf("expired token resumed")
	}
	// Supervisors may hold several sessions.
	if _, old, _ := ss.open(sup, c2); old != nil {
		t.Errorf("supervisor login kicked a session")
	}
}
