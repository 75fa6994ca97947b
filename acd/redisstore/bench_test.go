package redisstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// BenchmarkClaimRelease measures one Claim plus its Release against a local
// redis-server over a unix socket: the round trips an offer costs.
func BenchmarkClaimRelease(b *testing.B) {
	srv := redistest.Start(b)
	s := newTestStore(b, srv, "n1", "")
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		for i := range b.N {
			call, agent := fmt.Sprintf("c%d", i), fmt.Sprintf("a%d", i%100)
			if err := s.Claim(ctx, call, agent); err != nil {
				b.Fatal(err)
			}
			if err := s.Release(ctx, call, agent); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var worker atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			w := worker.Add(1)
			agent := fmt.Sprintf("p%d", w)
			for i := 0; pb.Next(); i++ {
				call := fmt.Sprintf("p%d-%d", w, i)
				if err := s.Claim(ctx, call, agent); err != nil {
					b.Fatal(err)
				}
				if err := s.Release(ctx, call, agent); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
