package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hotlinecc/hotline/sip"
)

// Own returns the live bindings this node published (its Node), by user:
// what a node restarted under the same name restores into its registrar
// (sip.Registrar.Restore), so its phones are its own again — rung, and
// signing their agents in — without waiting for them to re-register.
func (r *Registrations) Own(ctx context.Context) (map[string][]sip.Binding, error) {
	out := map[string][]sip.Binding{}
	pattern := r.prefix + "reg:*"
	now := time.Now()
	var cursor uint64
	for {
		keys, next, err := r.rdb.Scan(ctx, cursor, pattern, 256).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: own registrations: %w", err)
		}
		for _, key := range keys {
			data, err := get(ctx, r.rdb, key)
			if err != nil {
				return nil, fmt.Errorf("redisstore: own registrations %s: %w", key, err)
			}
			stored, err := decode(data)
			if err != nil {
				continue // an unreadable value is of no use to any node
			}
			user := strings.TrimPrefix(key, r.prefix+"reg:")
			for _, b := range stored {
				if b.Node == r.node && b.Expires.After(now) {
					out[user] = append(out[user], b)
				}
			}
		}
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}
