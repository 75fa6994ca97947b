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
	"time"

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
type authenticator struct {
	realm  string
	secret []byte
	now    func() time.Time
}

func newAuthenticator(realm string) *authenticator {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the platform has no entropy: nothing sensible to do
	}
	return &authenticator{realm: realm, secret: secret, now: time.Now}
}

func (a *authenticator) nonce() string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(a.now().Unix()))
	mac := hmac.New(sha256.New, a.secret)
	mac.Write(ts[:])
	return base64.RawURLEncoding.EncodeToString(append(ts[:], mac.Sum(nil)[:16]...))
}

// errStale means the nonce was ours but expired: the phone should retry silently.
var errStale = errors.New("stale nonce")

func (a *authenticator) checkNonce(n string) error {
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(raw) != 24 {
		return errors.New("unknown nonce")
	}
	mac := hmac.New(sha256.New, a.secret)
	mac.Write(raw[:8])
	if !hmac.Equal(mac.Sum(nil)[:16], raw[8:]) {
		return errors.New("unknown nonce")
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

// verify checks an Authorization header value for method; lookup returns the
// stored credential for a user name. It returns the authenticated user.
func (a *authenticator) verify(header, method string, lookup func(user string) (Credential, bool)) (Credential, error) {
	if header == "" {
		return Credential{}, errNoCredentials
	}
	cr, err := digest.ParseCredentials(header)
	if err != nil {
		return Credential{}, fmt.Errorf("parse Authorization: %w", err)
	}
	if cr.Realm != a.realm {
		return Credential{}, fmt.Errorf("realm %q is not ours", cr.Realm)
	}
	if cr.Algorithm != "" && !strings.EqualFold(cr.Algorithm, "MD5") {
		return Credential{}, fmt.Errorf("algorithm %q not supported", cr.Algorithm)
	}
	if err := a.checkNonce(cr.Nonce); err != nil {
		return Credential{}, err
	}
	cred, ok := lookup(cr.Username)
	if !ok {
		return Credential{}, fmt.Errorf("unknown user %q", cr.Username)
	}
	ha2 := md5hex(method + ":" + cr.URI)
	var want string
	if cr.QOP == "" {
		want = md5hex(cred.HA1 + ":" + cr.Nonce + ":" + ha2)
	} else {
		want = md5hex(cred.HA1 + ":" + cr.Nonce + ":" + fmt.Sprintf("%08x", cr.Nc) + ":" + cr.Cnonce + ":" + cr.QOP + ":" + ha2)
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(cr.Response))) {
		return Credential{}, fmt.Errorf("wrong password for user %q", cr.Username)
	}
	return cred, nil
}

// parseExpires reads an Expires header or contact parameter value.
func parseExpires(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return def
	}
	return n
}
