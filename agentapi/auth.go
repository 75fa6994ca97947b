package agentapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

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
	// it (bcrypt) and keeps only the hash. PasswordHash (bcrypt or argon2id,
	// e.g. from HashPassword) may be given instead.
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

// HashPassword returns a bcrypt hash (cost 10) for Account.PasswordHash
// or the configuration's password_hash.
func HashPassword(password string) (string, error) {
	return hashPassword(password, bcrypt.DefaultCost)
}

func hashPassword(password string, cost int) (string, error) {
	if len(password) > 72 {
		return "", fmt.Errorf("password hash: longer than bcrypt's 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("password hash: %w", err)
	}
	return string(h), nil
}

// ValidHash reports whether h is a password hash VerifyPassword can check:
// bcrypt ($2a$, $2b$, $2y$) or argon2id in the PHC string format
// ($argon2id$v=19$m=65536,t=3,p=4$salt$hash, base64 without padding).
func ValidHash(h string) bool {
	if strings.HasPrefix(h, "$2") {
		_, err := bcrypt.Cost([]byte(h))
		return err == nil
	}
	_, _, err := parseArgon2id(h)
	return err == nil
}

// VerifyPassword checks password against a bcrypt or argon2id hash in
// constant time (for a given hash).
func VerifyPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	p, want, err := parseArgon2id(hash)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

type argon2Params struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
}

// parseArgon2id reads $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func parseArgon2id(h string) (argon2Params, []byte, error) {
	var p argon2Params
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, nil, fmt.Errorf("not an argon2id v19 hash")
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil {
		return p, nil, fmt.Errorf("argon2id parameters %q: %w", parts[3], err)
	}
	// Bounds keep a hostile configuration from costing the server gigabytes.
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || threads < 1 || threads > 64 {
		return p, nil, fmt.Errorf("argon2id parameters %q out of range", parts[3])
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, nil, fmt.Errorf("argon2id salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, fmt.Errorf("argon2id hash")
	}
	return p, key, nil
}

// checkPassword is VerifyPassword for the WebSocket login.
func checkPassword(stored, password string) bool { return VerifyPassword(stored, password) }

// account is a validated Account with its hash and supervision scope.
type account struct {
	Account
	hash string
	// all: supervises every agent and queue.
	all bool
	// groups: the groups and queues a supervisor watches.
	groups map[string]bool
}

func newAccount(a Account, cost int) (*account, error) {
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
		if !ValidHash(a.PasswordHash) {
			return nil, fmt.Errorf("account %s: password hash is neither bcrypt ($2b$...) nor argon2id ($argon2id$v=19$...)", a.ID)
		}
		acc.hash = a.PasswordHash
	case a.Password != "":
		h, err := hashPassword(a.Password, cost)
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
