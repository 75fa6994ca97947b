package crm

import (
	"fmt"
	"strings"
)

// NumberPlan describes how caller numbers are written in the home country, so
// that national and international forms of one number normalise to the same
// key. The zero value is the Chinese plan: country code 86, trunk prefix 0,
// 11-digit mobile numbers starting with 1.
type NumberPlan struct {
	CountryCode  string // default "86"
	TrunkPrefix  string // national trunk prefix, default "0"
	MobilePrefix string // first digits of a national mobile number, default "1"
	MobileDigits int    // length of a national mobile number, default 11
	MinDigits    int    // shortest national number accepted, default 5 (service numbers like 10086)
	MaxDigits    int    // longest number including country code, default 15 (E.164)
}

func (p NumberPlan) withDefaults() NumberPlan {
	if p.CountryCode == "" {
		p.CountryCode = "86"
	}
	if p.TrunkPrefix == "" {
		p.TrunkPrefix = "0"
	}
	if p.MobilePrefix == "" {
		p.MobilePrefix = "1"
	}
	if p.MobileDigits == 0 {
		p.MobileDigits = 11
	}
	if p.MinDigits == 0 {
		p.MinDigits = 5
	}
	if p.MaxDigits == 0 {
		p.MaxDigits = 15
	}
	return p
}

// Normalise returns the canonical form of a caller number: the national
// significant number (no country code, no trunk prefix) for home numbers, and
// "+" followed by the full international number for foreign ones.
// Spaces, dashes, dots and parentheses are ignored. Errors wrap
// ErrMalformedNumber. Normalise is idempotent.
func (p NumberPlan) Normalise(raw string) (string, error) {
	p = p.withDefaults()
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '-', '(', ')', '.', '\t':
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrMalformedNumber)
	}
	intl := false
	switch {
	case s[0] == '+':
		intl, s = true, s[1:]
	case strings.HasPrefix(s, "00"):
		intl, s = true, s[2:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%w: %q contains %q", ErrMalformedNumber, raw, s[i])
		}
	}
	if intl {
		if !strings.HasPrefix(s, p.CountryCode) {
			if len(s) < p.MinDigits+1 || len(s) > p.MaxDigits {
				return "", fmt.Errorf("%w: %q has %d digits, want %d to %d", ErrMalformedNumber, raw, len(s), p.MinDigits+1, p.MaxDigits)
			}
			return "+" + s, nil
		}
		s = s[len(p.CountryCode):]
		// "+86 (0)10 ..." keeps the trunk prefix in brackets.
		s = strings.TrimPrefix(s, p.TrunkPrefix)
	} else {
		s = strings.TrimPrefix(s, p.TrunkPrefix)
	}
	if len(s) == len(p.CountryCode)+p.MobileDigits && strings.HasPrefix(s, p.CountryCode) &&
		strings.HasPrefix(s[len(p.CountryCode):], p.MobilePrefix) {
		// A bare country code is only unambiguous in front of a mobile
		// number; elsewhere it could be the start of an area code.
		s = s[len(p.CountryCode):]
	}
	if strings.HasPrefix(s, p.TrunkPrefix) {
		// Would read as a trunk or international prefix next time.
		return "", fmt.Errorf("%w: %q: national number starts with %s", ErrMalformedNumber, raw, p.TrunkPrefix)
	}
	if max := p.MaxDigits - len(p.CountryCode); len(s) < p.MinDigits || len(s) > max {
		return "", fmt.Errorf("%w: %q has %d national digits, want %d to %d", ErrMalformedNumber, raw, len(s), p.MinDigits, max)
	}
	return s, nil
}

// numberKey packs a canonical number into a uint64 map key. A leading sentinel
// digit (1 home, 2 foreign) keeps leading zeros and the two forms apart.
func numberKey(canon string) (uint64, bool) {
	sentinel := uint64(1)
	if strings.HasPrefix(canon, "+") {
		sentinel, canon = 2, canon[1:]
	}
	if canon == "" || len(canon) > 17 {
		return 0, false
	}
	k := sentinel
	for i := 0; i < len(canon); i++ {
		c := canon[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + uint64(c-'0')
	}
	return k, true
}

// keyNumber is the inverse of numberKey.
func keyNumber(k uint64) string {
	var buf [21]byte
	i := len(buf)
	for k >= 10 {
		i--
		buf[i] = byte('0' + k%10)
		k /= 10
	}
	// k is now the sentinel.
	if k == 2 {
		i--
		buf[i] = '+'
	}
	return string(buf[i:])
}
