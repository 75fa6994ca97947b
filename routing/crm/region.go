package crm

import (
	"fmt"
	"strings"
)

// PrefixTable maps number prefixes to regions for callers whose customer
// record has no region (longest prefix wins). Prefixes are written in the
// canonical number form: national digits, or "+" and the international number.
// A nil *PrefixTable matches nothing.
type PrefixTable struct {
	byPrefix map[string]string
	minLen   int
	maxLen   int
}

// NewPrefixTable validates and indexes prefix → region entries.
func NewPrefixTable(entries map[string]string) (*PrefixTable, error) {
	t := &PrefixTable{byPrefix: make(map[string]string, len(entries))}
	for prefix, region := range entries {
		p := strings.TrimSpace(prefix)
		digits := strings.TrimPrefix(p, "+")
		if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
			return nil, fmt.Errorf("crm: region prefix %q: want digits, optionally after '+'", prefix)
		}
		if strings.TrimSpace(region) == "" {
			return nil, fmt.Errorf("crm: region prefix %q: empty region", prefix)
		}
		t.byPrefix[p] = strings.TrimSpace(region)
		if t.minLen == 0 || len(p) < t.minLen {
			t.minLen = len(p)
		}
		if len(p) > t.maxLen {
			t.maxLen = len(p)
		}
	}
	return t, nil
}

// Region returns the region of the longest prefix matching the canonical
// number.
func (t *PrefixTable) Region(number string) (string, bool) {
	if t == nil || len(t.byPrefix) == 0 {
		return "", false
	}
	for n := min(t.maxLen, len(number)); n >= t.minLen; n-- {
		if r, ok := t.byPrefix[number[:n]]; ok {
			return r, true
		}
	}
	return "", false
}

// Len is the number of prefixes in the table.
func (t *PrefixTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byPrefix)
}
