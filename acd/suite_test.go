package acd_test

import (
	"testing"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/acdtest"
)

// TestBehaviour runs the ACD behaviour suite on the single-node store;
// acd/redisstore runs the same suite on Redis.
func TestBehaviour(t *testing.T) {
	acdtest.Run(t, func(*testing.T) acd.Store { return acd.NewMemoryStore() })
}
