package redisstore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

var prefixes atomic.Int64

// newTestStore connects a Store to srv under a prefix of its own, so every
// test sees an empty store.
func newTestStore(t testing.TB, srv *redistest.Server, node, prefix string) *Store {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("t%d:", prefixes.Add(1))
	}
	s, err := New(Options{Addr: srv.Socket, Prefix: prefix, Node: node, LeaseTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
