package agentapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// Role is what an account may do.
type Role string

// Roles.
const (
	// RoleAgent controls only its own seat and calls.
	RoleAgent Role = "agent"
	// RoleSupervisor watches and acts on the agents of its groups.
	RoleSupervisor Role = "supervisor"
	// RoleAdmin may do everything a supervisor may, for every agent.
	RoleAdmin Role = "admin"
)

// Account is a configured desktop user.
type Account struct {
	ID   string
	Name string
	Role Role
	// Password is the clear-text password from the configuration; New hashes
	// it and keeps only the hash. PasswordHash (from HashPassword) may be
	// given instead.
	Password     string
	PasswordHash string
	// Profile is the agent's ACD profile (skills, groups, region, answer
	// mode, permissions) used at login; its ID is set from Account.ID.
	Profile acd.AgentProfile
	// Supervises lists the groups (agent groups or skill queues) a
	// supervisor watches. Empty means every agent (demo supervisor 9001).
	Supervises []string
	// NoExternal refuses outbound calls and transfers or consultations to
	// external numbers; NoInternal refuses internal calls. The zero value
	// allows both, so the demo configuration needs no extra keys.
	NoExternal bool
	NoInternal bool
}

const hashScheme = "sha256"

// HashPassword returns a salted SHA-256 hash "sha256$<salt>$<hash>" for
// Account.PasswordHash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	return hashWithSalt(salt, password), nil
}

func hashWithSalt(salt []byte, password string) string {
	sum := sha256.Sum256(append(append([]byte{}, salt...), password...))
	return hashScheme + "$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(sum[:])
}

// checkPassword compares in constant time (for a given hash length).
func checkPassword(stored, password string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != hashScheme {
		return false
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hashWithSalt(salt, password)), []byte(stored)) == 1
}

// account is a validated Account with its hash and supervision scope.
type account struct {
	Account
	hash string
	// all: supervises every agent and queue.
	all bool
	// groups: the groups and queues a supervisor watches.
	groups map[string]bool
}

func newAccount(a Account) (*account, error) {
	if a.ID == "" {
		return nil, fmt.Errorf("account: empty id")
	}
	switch a.Role {
	case RoleAgent, RoleSupervisor, RoleAdmin:
	case "":
		a.Role = RoleAgent
	default:
		return nil, fmt.Errorf("account %s: unknown role %q (agent, supervisor, admin)", a.ID, a.Role)
	}
	acc := &account{Account: a, groups: map[string]bool{}}
	switch {
	case a.PasswordHash != "":
		if !strings.HasPrefix(a.PasswordHash, hashScheme+"$") {
			return nil, fmt.Errorf("account %s: password hash is not %s$salt$hash", a.ID, hashScheme)
		}
		acc.hash = a.PasswordHash
	case a.Password != "":
		h, err := HashPassword(a.Password)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", a.ID, err)
		}
		acc.hash = h
	default:
		return nil, fmt.Errorf("account %s: no password", a.ID)
	}
	acc.Password = "" // keep only the hash
	acc.Profile.ID = a.ID
	acc.all = a.Role == RoleAdmin || (a.Role == RoleSupervisor && len(a.Supervises) == 0)
	for _, g := range a.Supervises {
		acc.groups[g] = true
	}
	return acc, nil
}

// watchesQueue reports whether a supervisor sees a queue's callers.
func (a *account) watchesQueue(q string) bool {
	return a.all || a.groups[q]
}

// watchesAgent reports whether a supervisor's scope includes an agent
// profile: one of its groups or skill queues is supervised.
func (a *account) watchesAgent(p *acd.AgentProfile) bool {
	if a.all {
		return true
	}
	if a.Role != RoleSupervisor || p == nil {
		return false
	}
	for _, g := range p.Groups {
		if a.groups[g] {
			return true
		}
	}
	for q := range p.Skills {
		if a.groups[q] {
			return true
		}
	}
	return false
}

func (a *account) supervisor() bool { return a.Role == RoleSupervisor || a.Role == RoleAdmin }

// session is a signed-in account; it outlives connections until logout,
// takeover or expiry.
type session struct {
	token   string
	acct    *account
	expires time.Time
	client  *client // current connection, nil while disconnected
}

// sessions holds the live tokens. An agent account has at most one
// session: a second login takes the seat over and ends the first session.
// Supervisors and admins may hold several (desktop plus wallboard).
type sessions struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	byToken map[string]*session
	byAgent map[string]*session
	// mint makes tokens (signed ones that survive a restart: tokens.go);
	// nil: random ones.
	mint func(*account) (string, error)
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, byToken: map[string]*session{}, byAgent: map[string]*session{}}
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// open starts a session for acct bound to c and returns the connection of
// the session it replaced (same agent, to be kicked), if any other.
func (s *sessions) open(acct *account, c *client) (sess *session, old *client, err error) {
	mint := s.mint
	if mint == nil {
		mint = func(*account) (string, error) { return newToken() }
	}
	tok, err := mint(acct)
	if err != nil {
		return nil, nil, err
	}
	sess = &session{token: tok, acct: acct, expires: s.now().Add(s.ttl), client: c}
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct.Role == RoleAgent {
		if prev := s.byAgent[acct.ID]; prev != nil {
			delete(s.byToken, prev.token)
			if prev.client != c {
				old = prev.client
			}
		}
		s.byAgent[acct.ID] = sess
	}
	s.byToken[tok] = sess
	return sess, old, nil
}

// resume binds an existing session to c. It returns the connection that
// held it before (to be closed), if any other.
func (s *sessions) resume(token string, c *client) (sess *session, prev *client, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess = s.byToken[token]
	if sess == nil {
		return nil, nil, false
	}
	if s.now().After(sess.expires) {
		s.removeLocked(sess)
		return nil, nil, false
	}
	sess.expires = s.now().Add(s.ttl)
	if sess.client != c {
		prev = sess.client
	}
	sess.client = c
	return sess, prev, true
}

// lookup returns the account of a live token without binding it.
func (s *sessions) lookup(token string) (*account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byToken[token]
	if sess == nil || s.now().After(sess.expires) {
		return nil, false
	}
	return sess.acct, true
}

// detach marks a session disconnected if c still holds it.
func (s *sessions) detach(sess *session, c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.client == c {
		sess.client = nil
		sess.expires = s.now().Add(s.ttl)
	}
}

// close ends a session (logout, shift change, forced sign-out).
func (s *sessions) close(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(sess)
}

func (s *sessions) removeLocked(sess *session) {
	if s.byToken[sess.token] == sess {
		delete(s.byToken, sess.token)
	}
	if s.byAgent[sess.acct.ID] == sess {
		delete(s.byAgent, sess.acct.ID)
	}
}

// valid reports whether sess is still live (not replaced or logged out).
func (s *sessions) valid(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byToken[sess.token] == sess
}

// expire drops disconnected sessions past their expiry.
func (s *sessions) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, sess := range s.byToken {
		if sess.client == nil && now.After(sess.expires) {
			s.removeLocked(sess)
		}
	}
}
