package crm

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

const benchCustomers = 1_000_000

var benchRegions = []string{"north", "south", "east", "west", "north-east", "north-west", "south-east", "south-west", "centre", "islands"}

// benchNumber is the i-th generated customer's canonical number: mobile
// numbers spread over several 13x/15x/18x blocks.
func benchNumber(i int) string {
	blocks := []int{130, 135, 138, 150, 158, 186, 189}
	return fmt.Sprintf("%d%08d", blocks[i%len(blocks)], i*7919%100_000_000)
}

// writeBenchCSV writes n customers in the import format, in the written
// forms a CRM export really mixes.
func writeBenchCSV(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "customers.csv")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,number,name,tier,region,blacklisted,attr:segment")
	for i := range n {
		number := benchNumber(i)
		switch i % 4 {
		case 1:
			number = "+86" + number
		case 2:
			number = number[:3] + "-" + number[3:7] + "-" + number[7:]
		}
		black := "no"
		if i%1000 == 0 {
			black = "yes"
		}
		segment := ""
		if i%50 == 0 {
			segment = "enterprise"
		}
		fmt.Fprintf(w, "C%07d,%s,Customer %d,%s,%s,%s,%s\n", i, number, i, DemoTiers[i%len(DemoTiers)], benchRegions[i%len(benchRegions)], black, segment)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkImport1M imports a 1,000,000-row CSV file (full load) into an
// empty store; sec/op is the import time the issue bounds at 30 s.
func BenchmarkImport1M(b *testing.B) {
	path := writeBenchCSV(b, benchCustomers)
	b.ReportAllocs()
	var rep Report
	for b.Loop() {
		store := NewMemStore()
		im, err := NewImporter(store, ImportConfig{Tiers: DemoTiers, Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		rep, err = im.ImportFile(context.Background(), path, FullLoad)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Loaded != benchCustomers || rep.RejectedCount != 0 {
			b.Fatalf("loaded %d, rejected %d: %v", rep.Loaded, rep.RejectedCount, rep.Rejects)
		}
	}
	b.ReportMetric(float64(benchCustomers)/rep.Duration.Seconds(), "rows/s")
}

// loadBench fills a store with 1,000,000 customers through the CSV importer
// and returns it with the heap it takes.
func loadBench(b *testing.B) (*MemStore, float64) {
	b.Helper()
	path := writeBenchCSV(b, benchCustomers)
	before := heapInUse()
	store := NewMemStore()
	im, err := NewImporter(store, ImportConfig{Tiers: DemoTiers, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := im.ImportFile(context.Background(), path, FullLoad); err != nil {
		b.Fatal(err)
	}
	after := heapInUse()
	runtime.KeepAlive(store)
	return store, float64(after-before) / (1 << 20)
}

// BenchmarkLookup1M looks up random callers (9 in 10 customers, 1 in 10
// unknown) with 1,000,000 customers loaded, and reports the p50/p99/p99.9
// latency of single lookups and the heap the loaded store holds.
func BenchmarkLookup1M(b *testing.B) {
	store, storeMB := loadBench(b)
	regions, _ := NewPrefixTable(map[string]string{"138": "north", "150": "south"})
	resolver, err := NewResolver(ResolverConfig{Store: store, Regions: regions, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	callers := make([]string, 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range callers {
		if i%10 == 9 {
			callers[i] = fmt.Sprintf("137%08d", rng.IntN(100_000_000)) // no customer has a 137 number
		} else {
			callers[i] = "+86" + benchNumber(rng.IntN(benchCustomers))
		}
	}
	ctx := context.Background()
	run := func(b *testing.B, lookup func(string) error) {
		lat := make([]time.Duration, 0, 1<<20)
		i := 0
		for b.Loop() {
			start := time.Now()
			if err := lookup(callers[i&(len(callers)-1)]); err != nil {
				b.Fatal(err)
			}
			if len(lat) < cap(lat) {
				lat = append(lat, time.Since(start))
			}
			i++
		}
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
		b.ReportMetric(q(0.50), "p50-ns")
		b.ReportMetric(q(0.99), "p99-ns")
		b.ReportMetric(q(0.999), "p99.9-ns")
		b.ReportMetric(storeMB, "store-MB")
		b.ReportMetric(storeMB*(1<<20)/benchCustomers, "B/customer")
	}
	b.Run("resolver", func(b *testing.B) {
		b.ReportAllocs()
		run(b, func(n string) error {
			c, err := resolver.Lookup(ctx, n)
			if err == nil && c.Tier == "" {
				return fmt.Errorf("no tier for %s", n)
			}
			return err
		})
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		plan := NumberPlan{}
		run(b, func(n string) error {
			canon, err := plan.Normalise(n)
			if err != nil {
				return err
			}
			if _, err := store.Get(ctx, canon); err != nil && err != ErrNotFound {
				return err
			}
			return nil
		})
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(callers))
			for pb.Next() {
				if _, err := resolver.Lookup(ctx, callers[i&(len(callers)-1)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	runtime.KeepAlive(store)
}
