package recording

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Policy is a queue's recording policy: always, never, or a percentage of
// calls. The zero value records nothing.
type Policy struct {
	Percent int // 0 = never, 100 = always
}

// ParsePolicy reads "always", "never" or "N%" (0-100), as written in the
// queue configuration.
func ParsePolicy(s string) (Policy, error) {
	switch v := strings.TrimSpace(strings.ToLower(s)); v {
	case "always":
		return Policy{Percent: 100}, nil
	case "never", "":
		return Policy{}, nil
	default:
		n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil || !strings.HasSuffix(v, "%") || n < 0 || n > 100 {
			return Policy{}, fmt.Errorf("recording policy %q: want always, never or 0%%-100%%", s)
		}
		return Policy{Percent: n}, nil
	}
}

// Record decides whether callID is recorded. The decision is a hash of the
// call id, so it is stable across retries and nodes and needs no state.
func (p Policy) Record(callID string) bool {
	switch {
	case p.Percent >= 100:
		return true
	case p.Percent <= 0:
		return false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(callID))
	return int(h.Sum32()%100) < p.Percent
}
