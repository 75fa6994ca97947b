package redisstore

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/routing/crm"
)

// customers yields n demo-shaped customers, as a CSV import would.
func customers(n int) iter.Seq2[crm.Customer, error] {
	tiers := crm.DemoTiers
	return func(yield func(crm.Customer, error) bool) {
		for i := range n {
			c := crm.Customer{ID: "C-" + strconv.Itoa(i), Number: strconv.Itoa(13000000000 + i),
				Name: "Customer " + strconv.Itoa(i), Tier: tiers[i%len(tiers)], Region: "north"}
			if !yield(c, nil) {
				return
			}
		}
	}
}

func usedMemory(b *testing.B, s *Store) int64 {
	b.Helper()
	info, err := s.rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// BenchmarkGet is one caller's lookup round trip over a unix socket to a
// store of 100,000 customers; p50/p99 are per-lookup latencies.
func BenchmarkGet(b *testing.B) {
	const n = 100_000
	srv := redistest.Start(b)
	s := newTestStore(b, srv)
	ctx := context.Background()
	if err := s.Replace(ctx, customers(n)); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	for b.Loop() {
		number := strconv.Itoa(13000000000 + (i*7919)%n)
		start := time.Now()
		if _, err := s.Get(ctx, number); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkReplace is a full reload; bytes/customer is Redis's used_memory
// growth for one generation of this size.
func BenchmarkReplace(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			srv := redistest.Start(b)
			s := newTestStore(b, srv)
			ctx := context.Background()
			before := usedMemory(b, s)
			if err := s.Replace(ctx, customers(n)); err != nil {
				b.Fatal(err)
			}
			perCustomer := float64(usedMemory(b, s)-before) / float64(n)
			for b.Loop() {
				if err := s.Replace(ctx, customers(n)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/customer")
			// b.Loop resets metrics on entry, so this one is reported last.
			b.ReportMetric(perCustomer, "redis-bytes/customer")
			if got, err := s.Len(ctx); err != nil || got != n {
				b.Fatalf("Len = %d, %v", got, err)
			}
		})
	}
}

// BenchmarkGetParallel is many calls looking up at once (GOMAXPROCS×4
// callers sharing one store's connection pool).
func BenchmarkGetParallel(b *testing.B) {
	const n = 100_000
	srv := redistest.Start(b)
	s := newTestStore(b, srv)
	ctx := context.Background()
	if err := s.Replace(ctx, customers(n)); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1<<14)
		for i := 0; pb.Next(); i++ {
			number := strconv.Itoa(13000000000 + (i*7919)%n)
			start := time.Now()
			if _, err := s.Get(ctx, number); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkGetDuringReplace is one caller's lookups while another node
// reloads 100,000 customers over and over: p99 shows what the switch and
// drop scripts, which hold Redis for a few milliseconds, cost a call.
func BenchmarkGetDuringReplace(b *testing.B) {
	const n = 100_000
	srv := redistest.Start(b)
	s := newTestStore(b, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Replace(ctx, customers(n)); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := s.Replace(ctx, customers(n)); err != nil && ctx.Err() == nil {
				b.Error(err)
				return
			}
		}
	})
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	for b.Loop() {
		number := strconv.Itoa(13000000000 + (i*7919)%n)
		start := time.Now()
		if _, err := s.Get(ctx, number); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "max-µs")
}
