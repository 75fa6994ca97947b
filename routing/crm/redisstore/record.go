package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hotlinecc/hotline/routing/crm"
)

const recordVersion = 1

const (
	flagBlacklisted = 1 << iota
	flagIDIsNumber  // ID equals Number; not stored twice
)

// maxField bounds each string so that one customer cannot grow a record
// without limit (same bound as crm.MemStore).
const maxField = 1<<16 - 1

var errCorrupt = errors.New("redisstore: corrupt customer record")

// canonical reports whether number is in the canonical form crm.NumberPlan
// produces: an optional "+" and 1 to 17 digits.
func canonical(number string) error {
	digits := strings.TrimPrefix(number, "+")
	if digits == "" || len(digits) > 17 {
		return fmt.Errorf("%w: %q is not a canonical number", crm.ErrMalformedNumber, number)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return fmt.Errorf("%w: %q is not a canonical number", crm.ErrMalformedNumber, number)
		}
	}
	return nil
}

// encodeRecord packs c (whose Number is the hash field, so not repeated):
//
//	version byte, flags byte,
//	[uvarint len, ID]   only without flagIDIsNumber
//	uvarint len, Name; uvarint len, Tier; uvarint len, Region
//	uvarint n, then n × (uvarint len, key; uvarint len, value), keys sorted
func encodeRecord(c crm.Customer) ([]byte, error) {
	if err := canonical(c.Number); err != nil {
		return nil, err
	}
	size := 2 + len(c.ID) + len(c.Name) + len(c.Tier) + len(c.Region) + 5*binary.MaxVarintLen16
	for k, v := range c.Attributes {
		if len(k) > maxField || len(v) > maxField {
			return nil, fmt.Errorf("redisstore: customer %s: attribute longer than %d bytes", c.Number, maxField)
		}
		size += len(k) + len(v) + 2*binary.MaxVarintLen16
	}
	for _, s := range []string{c.ID, c.Name, c.Tier, c.Region} {
		if len(s) > maxField {
			return nil, fmt.Errorf("redisstore: customer %s: field longer than %d bytes", c.Number, maxField)
		}
	}
	var flags byte
	if c.Blacklisted {
		flags |= flagBlacklisted
	}
	idIsNumber := c.ID == "" || c.ID == c.Number
	if idIsNumber {
		flags |= flagIDIsNumber
	}
	b := make([]byte, 0, size)
	b = append(b, recordVersion, flags)
	put := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if !idIsNumber {
		put(c.ID)
	}
	put(c.Name)
	put(c.Tier)
	put(c.Region)
	b = binary.AppendUvarint(b, uint64(len(c.Attributes)))
	keys := make([]string, 0, len(c.Attributes))
	for k := range c.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		put(k)
		put(c.Attributes[k])
	}
	return b, nil
}

// decodeRecord is the inverse of encodeRecord. It never panics on bad input:
// the hash is shared with other nodes and possibly other software versions.
func decodeRecord(number string, b []byte) (crm.Customer, error) {
	if len(b) < 2 {
		return crm.Customer{}, fmt.Errorf("%w for %s: %d bytes", errCorrupt, number, len(b))
	}
	if b[0] != recordVersion {
		return crm.Customer{}, fmt.Errorf("%w for %s: version %d, want %d", errCorrupt, number, b[0], recordVersion)
	}
	flags := b[1]
	b = b[2:]
	bad := false
	get := func() string {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			bad = true
			b = nil
			return ""
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s
	}
	c := crm.Customer{Number: number, ID: number, Source: crm.SourceStore, Blacklisted: flags&flagBlacklisted != 0}
	if flags&flagIDIsNumber == 0 {
		c.ID = get()
	}
	c.Name = get()
	c.Tier = get()
	c.Region = get()
	n, w := binary.Uvarint(b)
	if bad || w <= 0 {
		return crm.Customer{}, fmt.Errorf("%w for %s: truncated", errCorrupt, number)
	}
	b = b[w:]
	// Each attribute takes at least two bytes, which bounds the map size a
	// corrupt count could ask for.
	if n > uint64(len(b)/2) {
		return crm.Customer{}, fmt.Errorf("%w for %s: %d attributes in %d bytes", errCorrupt, number, n, len(b))
	}
	if n > 0 {
		c.Attributes = make(map[string]string, n)
		for range n {
			k := get()
			c.Attributes[k] = get()
		}
	}
	if bad || len(b) != 0 {
		return crm.Customer{}, fmt.Errorf("%w for %s: bad length", errCorrupt, number)
	}
	return c, nil
}
