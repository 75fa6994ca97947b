package cdr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStream is a Sink that appends every line to a Redis stream (cluster
// mode), one entry per record with the JSON in field "record", trimmed to
// about MaxLen entries. Consumers (a data warehouse loader, another node's
// wallboard) read it with XREAD / consumer groups.
type RedisStream struct {
	Client redis.UniversalClient
	Stream string // e.g. "hotline:calls"
	MaxLen int64  // approximate cap; 0 = 1,000,000
	Field  string // "record" if empty
	// Timeout bounds one batch (1 s if zero): a slow Redis delays the file
	// writer's next batch by at most this.
	Timeout time.Duration
}

// Send implements Sink with one pipelined round trip per batch.
func (s *RedisStream) Send(ctx context.Context, lines [][]byte) error {
	if s.Client == nil || s.Stream == "" {
		return errors.New("cdr: redis stream sink needs a client and a stream name")
	}
	maxLen, field, timeout := s.MaxLen, s.Field, s.Timeout
	if maxLen <= 0 {
		maxLen = 1_000_000
	}
	if field == "" {
		field = "record"
	}
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pipe := s.Client.Pipeline()
	for _, l := range lines {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.Stream, MaxLen: maxLen, Approx: true, Values: []any{field, l}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cdr: append %d records to redis stream %s: %w", len(lines), s.Stream, err)
	}
	return nil
}

var _ Sink = (*RedisStream)(nil)
