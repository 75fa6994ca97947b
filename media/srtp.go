package media

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTP with SDES keys (RFC 4568, RFC 3711), on github.com/pion/srtp. A leg
// whose SDP negotiated RTP/SAVP encrypts every packet it sends with its own
// key and authenticates and decrypts every packet it receives with the
// phone's; a packet that fails authentication is dropped before it can
// latch or be heard (DroppedAuth). Everything above the session (bridges,
// mixers, recording, DTMF, hold) sees the same clear G.711 frames.

// SRTP crypto suites supported (RFC 4568 §6.2 names).
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

// SRTPSuites lists the suites in our order of preference.
var SRTPSuites = []string{SuiteAES128SHA1_80, SuiteAES128SHA1_32}

const (
	srtpKeyLen  = 16
	srtpSaltLen = 14
	srtpMaxTag  = 10 // HMAC-SHA1-80
)

// SRTPKey is one direction's master key and salt for a suite.
type SRTPKey struct {
	Suite string
	Key   []byte // 16 bytes
	Salt  []byte // 14 bytes
}

// ErrSRTPSuite means a crypto suite we do not support.
var ErrSRTPSuite = errors.New("unsupported SRTP crypto suite")

func profileFor(suite string) (srtp.ProtectionProfile, error) {
	switch suite {
	case SuiteAES128SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case SuiteAES128SHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	}
	return 0, fmt.Errorf("%w %q", ErrSRTPSuite, suite)
}

// NewSRTPKey draws a fresh random master key and salt for suite.
func NewSRTPKey(suite string) (SRTPKey, error) {
	if _, err := profileFor(suite); err != nil {
		return SRTPKey{}, err
	}
	b := make([]byte, srtpKeyLen+srtpSaltLen)
	if _, err := rand.Read(b); err != nil {
		return SRTPKey{}, fmt.Errorf("srtp key: %w", err)
	}
	return SRTPKey{Suite: suite, Key: b[:srtpKeyLen], Salt: b[srtpKeyLen:]}, nil
}

// Inline is the key as SDES writes it after "inline:" (base64 of key‖salt).
func (k SRTPKey) Inline() string {
	return base64.StdEncoding.EncodeToString(append(append([]byte{}, k.Key...), k.Salt...))
}

// ParseSRTPKey reads an SDES inline key (the part after "inline:", up to any
// "|lifetime|MKI" suffix, which must be absent or carry no MKI).
func ParseSRTPKey(suite, inline string) (SRTPKey, error) {
	if _, err := profileFor(suite); err != nil {
		return SRTPKey{}, err
	}
	keyPart := inline
	for i := 0; i < len(inline); i++ {
		if inline[i] == '|' {
			keyPart = inline[:i]
			break
		}
	}
	b, err := base64.StdEncoding.DecodeString(keyPart)
	if err != nil {
		// Some phones drop the padding.
		if b, err = base64.RawStdEncoding.DecodeString(keyPart); err != nil {
			return SRTPKey{}, fmt.Errorf("srtp inline key: not base64")
		}
	}
	if len(b) != srtpKeyLen+srtpSaltLen {
		return SRTPKey{}, fmt.Errorf("srtp inline key: %d bytes, want %d", len(b), srtpKeyLen+srtpSaltLen)
	}
	return SRTPKey{Suite: suite, Key: b[:srtpKeyLen], Salt: b[srtpKeyLen:]}, nil
}

// srtpState holds the two contexts; tx is used under sendMu, rx only on
// the receive goroutine (pion contexts are not safe for concurrent use).
// Both work in place: packets are encrypted in their batch slot and
// decrypted in the reader's buffer.
type srtpState struct {
	tx, rx *srtp.Context
	rxHdr  rtp.Header // receive goroutine only: spares pion an allocation per packet
}

// SetSRTP makes the session send with send's key and accept only packets
// authenticated with recv's key. Call it before Start or on a re-INVITE
// that rekeys; ClearSRTP returns to plain RTP.
func (s *Session) SetSRTP(send, recv SRTPKey) error {
	tp, err := profileFor(send.Suite)
	if err != nil {
		return fmt.Errorf("srtp send: %w", err)
	}
	rp, err := profileFor(recv.Suite)
	if err != nil {
		return fmt.Errorf("srtp recv: %w", err)
	}
	tx, err := srtp.CreateContext(send.Key, send.Salt, tp)
	if err != nil {
		return fmt.Errorf("srtp send context: %w", err)
	}
	rx, err := srtp.CreateContext(recv.Key, recv.Salt, rp, srtp.SRTPReplayProtection(128))
	if err != nil {
		return fmt.Errorf("srtp recv context: %w", err)
	}
	s.srtp.Store(&srtpState{tx: tx, rx: rx})
	return nil
}

// ClearSRTP returns the session to plain RTP.
func (s *Session) ClearSRTP() { s.srtp.Store(nil) }

// SRTP reports whether the session encrypts its media.
func (s *Session) SRTP() bool { return s.srtp.Load() != nil }

// decrypt authenticates and decrypts a received SRTP packet; ok is false
// (and the packet counted as DroppedAuth) when it fails.
func (s *Session) decrypt(b []byte) ([]byte, bool) {
	sp := s.srtp.Load()
	if sp == nil {
		return b, true
	}
	out, err := sp.rx.DecryptRTP(b[:0], b, &sp.rxHdr)
	if err != nil {
		s.st.dropAuth.Add(1)
		return nil, false
	}
	return out, true
}
