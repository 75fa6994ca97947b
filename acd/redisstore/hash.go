package redisstore

import (
	"context"
	"fmt"
)

// Hash is one Redis hash of this node (<prefix><name>:<node>): values
// the engine keeps across a restart of the node, such as its pending
// callbacks. Each node restores only its own.
type Hash struct {
	s   *Store
	key string
}

// Hash returns the node's hash called name.
func (s *Store) Hash(name string) *Hash {
	return &Hash{s: s, key: s.prefix + name + ":" + s.node}
}

// Put sets one field.
func (h *Hash) Put(ctx context.Context, id string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.s.timeout)
	defer cancel()
	if err := h.s.rdb.HSet(ctx, h.key, id, data).Err(); err != nil {
		return fmt.Errorf("redis %s put %s: %w", h.key, id, err)
	}
	return nil
}

// Delete removes one field.
func (h *Hash) Delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, h.s.timeout)
	defer cancel()
	if err := h.s.rdb.HDel(ctx, h.key, id).Err(); err != nil {
		return fmt.Errorf("redis %s delete %s: %w", h.key, id, err)
	}
	return nil
}

// All reads every field.
func (h *Hash) All(ctx context.Context) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.s.timeout)
	defer cancel()
	m, err := h.s.rdb.HGetAll(ctx, h.key).Result()
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", h.key, err)
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}
