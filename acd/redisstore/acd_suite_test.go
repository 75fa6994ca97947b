package redisstore

import (
	"testing"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/acdtest"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// TestBehaviour runs the ACD behaviour suite with its shared state in Redis:
// one redis-server, a key prefix of its own for every ACD the suite starts.
func TestBehaviour(t *testing.T) {
	srv := redistest.Start(t)
	acdtest.Run(t, func(t *testing.T) acd.Store { return newTestStore(t, srv, "n1", "") })
}
