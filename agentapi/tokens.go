package agentapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// Session tokens outlive the process. A token is signed (HMAC-SHA256 with
// Config.SessionKey) and says whose it is and when it was issued, so after
// an engine restart the desktop's resume is accepted from the token alone:
// the server opens a new session for the account (a fresh token in the
// reply, which the page keeps) and, if the ACD forgot the agent, signs it
// in again — the page shows the agent's true state instead of the sign-in
// form. A token is good across a restart for Config.SessionMaxAge after it
// was issued; tokens are reissued at every login and resume, and a
// connected desktop whose token passes half that age is sent a fresh one
// (event session.token).
//
// What a restart must not bring back: a token its holder logged out of, or
// one replaced by a later login of the same agent (a seat has one desktop).
// The server keeps, per account, the time before which its tokens are void
// (an agent's latest login; any account's logout or shift change) and, with
// Config.SessionState set, keeps that list in a file across restarts.

const tokenPrefix = "h1."

// tokenClaims is a token's signed content.
type tokenClaims struct {
	Account string `json:"a"`
	Issued  int64  `json:"i"` // unix ms
	Nonce   string `json:"n"`
}

// tokens signs and checks session tokens and keeps the revocations.
type tokens struct {
	key    []byte
	maxAge time.Duration
	file   string // "" = revocations in memory only

	mu        sync.Mutex
	notBefore map[string]time.Time // account → tokens issued before are void
	dirty     bool
	// kick wakes the saver (Server.Run) after a change; saveMu orders saves.
	kick   chan struct{}
	saveMu sync.Mutex
}

func newTokens(key []byte, maxAge time.Duration, file string) (*tokens, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("agentapi: session key: %w", err)
		}
	}
	if maxAge <= 0 {
		maxAge = 30 * 24 * time.Hour
	}
	t := &tokens{key: key, maxAge: maxAge, file: file, notBefore: map[string]time.Time{}, kick: make(chan struct{}, 1)}
	if file != "" {
		if err := t.load(); err != nil {
			// Usable without it: only the revocations before it are lost.
			return t, err
		}
	}
	return t, nil
}

func (t *tokens) mac(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue signs a new token for an account.
func (t *tokens) issue(acct string, at time.Time) (string, error) {
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	b, err := json.Marshal(tokenClaims{Account: acct, Issued: at.UnixMilli(), Nonce: hex.EncodeToString(nonce)})
	if err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return tokenPrefix + payload + "." + t.mac(payload), nil
}

var errBadToken = errors.New("bad session token")

// parse checks a token's signature and returns its claims.
func (t *tokens) parse(tok string) (tokenClaims, error) {
	var c tokenClaims
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return c, errBadToken
	}
	payload, mac, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(t.mac(payload))) {
		return c, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Account == "" {
		return c, errBadToken
	}
	return c, nil
}

// issuedAt is when a token of ours was issued (zero if it is not one).
func (t *tokens) issuedAt(tok string) time.Time {
	c, err := t.parse(tok)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(c.Issued)
}

// void marks an account's tokens issued before at as revoked.
func (t *tokens) void(acct string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.After(t.notBefore[acct]) {
		t.notBefore[acct] = at
		t.dirty = true
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// valid checks a token from an earlier process: signed, not too old, not
// revoked. It returns the account id.
func (t *tokens) valid(tok string, now time.Time) (string, error) {
	c, err := t.parse(tok)
	if err != nil {
		return "", err
	}
	issued := time.UnixMilli(c.Issued)
	if now.Sub(issued) > t.maxAge {
		return "", fmt.Errorf("%w: expired", errBadToken)
	}
	t.mu.Lock()
	nb := t.notBefore[c.Account]
	t.mu.Unlock()
	if issued.Before(nb) {
		return "", fmt.Errorf("%w: replaced or logged out", errBadToken)
	}
	return c.Account, nil
}

// stateFile is the revocation file's form.
type stateFile struct {
	Version   int                  `json:"version"`
	NotBefore map[string]time.Time `json:"not_before"`
}

func (t *tokens) load() error {
	b, err := os.ReadFile(t.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agentapi: session state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("agentapi: session state %s: %w", t.file, err)
	}
	for k, v := range f.NotBefore {
		t.notBefore[k] = v
	}
	return nil
}

// save writes the revocations if they changed (atomically: temporary file
// and rename).
func (t *tokens) save(now time.Time) error {
	if t.file == "" {
		return nil
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	f := stateFile{Version: 1, NotBefore: map[string]time.Time{}}
	for k, v := range t.notBefore {
		if now.Sub(v) <= t.maxAge { // older revocations void nothing still valid
			f.NotBefore[k] = v
		}
	}
	t.dirty = false
	t.mu.Unlock()
	b, err := json.Marshal(f)
	if err == nil {
		err = writeAtomic(t.file, b)
	}
	if err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return fmt.Errorf("agentapi: session state: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// mintToken is the sessions' token source.
func (s *Server) mintToken(acct *account) (string, error) {
	return s.tokens.issue(acct.ID, s.now())
}

// sessionOpened records a login or restore: for an agent (one desktop per
// seat) every earlier token is void from now on.
func (s *Server) sessionOpened(sess *session) {
	if sess.acct.Role == RoleAgent {
		s.tokens.void(sess.acct.ID, s.tokens.issuedAt(sess.token))
	}
}

// sessionClosed records a logout or shift change: the account's tokens
// issued until now are void.
func (s *Server) sessionClosed(sess *session) {
	s.tokens.void(sess.acct.ID, s.now())
}

// restoreSession is resume with a token this process did not issue (it
// was issued before a restart): a valid one opens a new session for its
// account, and an agent the ACD no longer has is signed in again.
func (s *Server) restoreSession(tok string, c *client) (*session, error) {
	id, err := s.tokens.valid(tok, s.now())
	if err != nil {
		return nil, err
	}
	acct := s.account(id)
	if acct == nil {
		return nil, fmt.Errorf("%w: account %s no longer configured", errBadToken, id)
	}
	if acct.Role == RoleAgent {
		s.sessions.mu.Lock()
		cur := s.sessions.byAgent[acct.ID]
		s.sessions.mu.Unlock()
		if cur != nil && s.tokens.issuedAt(cur.token).After(s.tokens.issuedAt(tok)) {
			return nil, fmt.Errorf("%w: a later login holds the seat", errBadToken)
		}
	}
	if acct.hasSeat() {
		p := acct.Profile
		p.ID = acct.ID
		if err := s.acd.Login(p); err != nil && !errors.Is(err, acd.ErrAlreadyLoggedIn) {
			return nil, fmt.Errorf("sign %s in again: %w", acct.ID, err)
		}
		if snap, err := s.acd.Agent(acct.ID); err == nil && snap.Node != "" {
			return nil, fmt.Errorf("resume %s: %w: signed in on node %s", acct.ID, acd.ErrRemoteAgent, snap.Node)
		}
	}
	sess, old, err := s.sessions.open(acct, c)
	if err != nil {
		return nil, err
	}
	if old != nil {
		old.kick("taken_over", "agent "+acct.ID+" resumed on another desktop")
	}
	s.sessionOpened(sess)
	s.log.Info("agentapi: session restored from a token of an earlier process", "agent", acct.ID, "role", acct.Role, "remote", c.remote)
	return sess, nil
}
