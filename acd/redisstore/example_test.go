package redisstore_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/hotlinecc/hotline/acd/redisstore"
)

// Each engine node opens the shared store, keeps its lease and reaps the
// nodes that died; the store is then handed to the ACD as its acd.Store.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := redisstore.New(redisstore.Options{
		Addr:     "127.0.0.1:6379",
		Prefix:   "{hotline}:",
		Node:     "node-a",
		LeaseTTL: 5 * time.Second,
		OnLeaseLost: func() {
			slog.Warn("re-joining: writing local agents and calls to Redis again")
		},
	})
	if err != nil {
		slog.Error("redis store", "err", err)
		return
	}
	defer store.Close()
	go store.RunLease(ctx)
	go store.RunReaper(ctx, 0, func(r redisstore.Reaped) {
		slog.Info("node died", "node", r.Node, "released", len(r.Claims))
	})
	// The ACD takes it as its Deps.Store.
}
