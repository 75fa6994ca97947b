package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/routing/crm/redisstore"
)

// Every engine node opens the same store; the node that pulls the CRM
// export reloads it for all of them, and each node's Resolver reads it.
func Example() {
	store, err := redisstore.New(redisstore.Options{
		Addr:    "127.0.0.1:6379",
		Prefix:  "hotline:crm:",
		Timeout: 100 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	resolver, err := crm.NewResolver(crm.ResolverConfig{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	_ = resolver // resolver.Lookup(ctx, callerNumber) on each call
	_ = store.Ping(context.Background())
}
