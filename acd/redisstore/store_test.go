package redisstore

import (
	"testing"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/acd/storetest"
)

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) acd.Store { return newTestStore(t, srv, "n1", "") })
}
