package storetest

import (
	"testing"

	"github.com/hotlinecc/hotline/acd"
)

func TestMemoryStore(t *testing.T) {
	Run(t, func(*testing.T) acd.Store { return acd.NewMemoryStore() })
}
