package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/media/sdp"

	"github.com/icholy/digest"
)

// Credential is a phone's SIP secret, kept only as the digest HA1
// (MD5 of user:realm:password) so the plain password never sits in memory.
type Credential struct {
	User string
	HA1  string
	// External allows this user's calls to reach destinations outside the
	// centre (through a trunk); without it a compromised phone cannot be used
	// for toll fraud.
	External bool
	// SRTP is the phone's media.srtp policy (optional by default).
	SRTP sdp.SRTPPolicy
}

// HA1 computes the digest HA1 for a user's password in a realm.
func HA1(user, realm, password string) string {
	return md5hex(user + ":" + realm + ":" + password)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// nonceLife bounds replay of a captured Authorization header.
const nonceLife = 5 * time.Minute

// authenticator issues stateless nonces (an HMAC of their issue time) and
// checks digest responses against stored HA1 values.
//
// A nonce this node cannot verify (issued before a restart, or by another
// node with another secret) or one past nonceLife is answered 401 with
// stale=true, so the phone re-authenticates silently instead of being told
// its password is wrong; nodes that share Config.NonceSecret accept each
// other's nonces. Each nonce's highest nonce-count is remembered for its
// life, so a captured Authorization header cannot be replayed.
type authenticator struct {
	realm  string
	secret []byte
	now    func() time.Time

	mu        sync.Mutex
	seen      map[string]nonceUse // nonce -> highest nc and expiry
	lastSweep time.Time
}

type nonceUse struct {
	nc      uint64
	expires time.Time
}

// maxTrackedNonces bounds the replay table; past it the oldest nonces are
// dropped early and their phones simply get a fresh challenge (stale).
const maxTrackedNonces = 200_000

func newAuthenticator(realm string, secret []byte) *authenticator {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err)) // the platform has no entropy: nothing sensible to do
		}
	} else {
		sum := sha256.Sum256(secret)
		secret = sum[:]
	}
	return &authenticator{realm: realm, secret: secret, now: time.Now, seen: map[string]nonceUse{}}
}

// use records nc for nonce and reports whether it is fresh (higher than any
// seen with this nonce).
func (a *authenticator) use(nonce string, nc uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if now.Sub(a.lastSweep) > time.Minute || len(a.seen) > maxTrackedNonces {
		a.lastSweep = now
		for n, u := range a.seen {
			if now.After(u.expires) || len(a.seen) > maxTrackedNonces {
				delete(a.seen, n)
			}
		}
	}
	if u, ok := a.seen[nonce]; ok && nc <= u.nc {
		return false
	}
	a.seen[nonce] = nonceUse{nc: nc, expires: now.Add(nonceLife + time.Minute)}
	return true
}

// nonce is issue time (8 bytes) and 8 random bytes, with an HMAC over both:
// the random part keeps two challenges in the same second apart, so the
// nonce-count of one never refuses the other.
func (a *authenticator) nonce() string {
	var raw [16 + nonceMACLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(a.now().Unix()))
	_, _ = rand.Read(raw[8:16]) // crypto/rand.Read never fails on supported platforms
	mac := hmac.New(sha256.New, a.secret)
	mac.Write(raw[:16])
	copy(raw[16:], mac.Sum(nil)[:nonceMACLen])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

const nonceMACLen = 16

// errStale means the nonce is expired, unknown or already used with this
// nonce-count: the phone should retry silently with a fresh one.
var errStale = errors.New("stale nonce")

func (a *authenticator) checkNonce(n string) error {
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(raw) != 16+nonceMACLen {
		return fmt.Errorf("%w: unknown nonce", errStale)
	}
	mac := hmac.New(sha256.New, a.secret)
	mac.Write(raw[:16])
	if !hmac.Equal(mac.Sum(nil)[:nonceMACLen], raw[16:]) {
		return fmt.Errorf("%w: unknown nonce (another node's or before a restart)", errStale)
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if a.now().Sub(issued) > nonceLife {
		return errStale
	}
	return nil
}

// challenge returns a WWW-Authenticate value.
func (a *authenticator) challenge(stale bool) string {
	c := digest.Challenge{Realm: a.realm, Nonce: a.nonce(), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// errNoCredentials means the request carried no Authorization header.
var errNoCredentials = errors.New("no credentials")

// authError is a failed digest check that counts against the source (a
// wrong password, an unknown user, a foreign realm) as opposed to a missing
// or stale nonce, which only asks for a new challenge.
type authError struct {
	User string
	err  error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// digestUser returns the user name an Authorization header claims ("" if none).
func digestUser(header string) string {
	if header == "" {
		return ""
	}
	cr, err := digest.ParseCredentials(header)
	if err != nil {
		return ""
	}
	return cr.Username
}

// verify checks an Authorization header value for method and the request's
// URI; lookup returns the stored credential for a user name. It returns the
// authenticated user.
func (a *authenticator) verify(header, method string, reqURI sipmsg.Uri, lookup func(user string) (Credential, bool)) (Credential, error) {
	if header == "" {
		return Credential{}, errNoCredentials
	}
	cr, err := digest.ParseCredentials(header)
	if err != nil {
		return Credential{}, &authError{err: fmt.Errorf("parse Authorization: %w", err)}
	}
	fail := func(format string, args ...any) (Credential, error) {
		return Credential{}, &authError{User: cr.Username, err: fmt.Errorf(format, args...)}
	}
	if cr.Realm != a.realm {
		return fail("realm %q is not ours", cr.Realm)
	}
	if cr.Algorithm != "" && !strings.EqualFold(cr.Algorithm, "MD5") {
		return fail("algorithm %q not supported", cr.Algorithm)
	}
	if err := a.checkNonce(cr.Nonce); err != nil {
		return Credential{}, err
	}
	// RFC 2617 §3.2.2.5 / RFC 3261 §22.4: the digest is bound to the
	// Request-URI, so a response computed for another request is useless.
	if !sameURI(cr.URI, reqURI) {
		return fail("digest uri %q does not match the request URI %q", truncateStr(cr.URI, 80), truncateStr(reqURI.String(), 80))
	}
	cred, ok := lookup(cr.Username)
	if !ok {
		return fail("unknown user %q", cr.Username)
	}
	ha2 := md5hex(method + ":" + cr.URI)
	var want string
	if cr.QOP == "" {
		want = md5hex(cred.HA1 + ":" + cr.Nonce + ":" + ha2)
	} else {
		want = md5hex(cred.HA1 + ":" + cr.Nonce + ":" + fmt.Sprintf("%08x", cr.Nc) + ":" + cr.Cnonce + ":" + cr.QOP + ":" + ha2)
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(cr.Response))) {
		return fail("wrong password for user %q", cr.Username)
	}
	// Only a correct response consumes the nonce-count, so guessing cannot
	// burn a phone's nonce.
	if !a.use(cr.Nonce, uint64(cr.Nc)) {
		return Credential{}, fmt.Errorf("%w: nonce-count %d replayed", errStale, cr.Nc)
	}
	return cred, nil
}

// sameURI compares a digest uri parameter with the Request-URI: scheme,
// host and port (an absent port is the scheme's default), and the user part
// when the digest uri has one (SIPp and some phones digest the bare
// registrar/domain URI; the nonce-count already stops replays).
func sameURI(digestURI string, req sipmsg.Uri) bool {
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(digestURI, &u); err != nil {
		return false
	}
	port := func(u sipmsg.Uri) int {
		if u.Port != 0 {
			return u.Port
		}
		if u.IsEncrypted() {
			return 5061
		}
		return 5060
	}
	return u.IsEncrypted() == req.IsEncrypted() && (u.User == "" || u.User == req.User) &&
		strings.EqualFold(u.Host, req.Host) && port(u) == port(req)
}

func truncateStr(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseExpires reads an Expires header or contact parameter value.
func parseExpires(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return def
	}
	return n
}
