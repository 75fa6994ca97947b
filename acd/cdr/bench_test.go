package cdr

import (
	"context"
	"iter"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// Run: go test -run '^$' -bench . -benchtime 100000x ./acd/cdr
// (Report1M and ReadReport fix their own record counts per iteration.)

func BenchmarkWrite(b *testing.B) {
	for _, sync := range []struct {
		name   string
		policy SyncPolicy
	}{{"sync-batch", SyncBatch}, {"sync-none", SyncNone}} {
		b.Run(sync.name, func(b *testing.B) {
			// A long EnqueueTimeout turns the benchmark into sustained throughput
			// under back-pressure rather than a test of the drop path.
			w, err := NewCallWriter(WriterOptions{Dir: b.TempDir(), Sync: sync.policy, EnqueueTimeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			rec := sampleRecord(1, day1)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				rec.CallID = "call-" + strconv.Itoa(i)
				if err := w.Write(rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil { // includes the drain: every record on disk
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if st := w.Stats(); st.Written != uint64(b.N) {
				b.Fatalf("wrote %d of %d", st.Written, b.N)
			}
		})
	}
}

// generated yields n plausible records spread over a day: 5 tiers, 8
// queues, 200 agents, 10 access numbers, 80 % answered.
func generated(n int) iter.Seq2[Record, error] {
	tiers := []string{"diamond", "platinum", "gold", "silver", "normal"}
	return func(yield func(Record, error) bool) {
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
		for i := range n {
			at := base.Add(time.Duration(i) * (24 * time.Hour / time.Duration(n)))
			enq := at.Add(20 * time.Second)
			agent := "agent-" + strconv.Itoa(rng.IntN(200))
			r := Record{
				CallID:       "c" + strconv.Itoa(i),
				Times:        Times{Arrival: at, Enqueued: &enq, Ended: at.Add(5 * time.Minute)},
				AccessNumber: "400" + strconv.Itoa(rng.IntN(10)),
				Customer:     Customer{Tier: tiers[rng.IntN(len(tiers))]},
				Queue:        "q" + strconv.Itoa(rng.IntN(8)),
				WaitMS:       rng.Int64N(60000),
				Offers:       []Offer{{Agent: agent, At: enq, Outcome: OfferAnswered, RingMS: 3000}},
			}
			switch p := rng.IntN(100); {
			case p < 80:
				r.Disposition, r.Agent = Answered, agent
				r.TalkMS, r.HoldMS, r.WrapUpMS = rng.Int64N(600000), rng.Int64N(60000), rng.Int64N(60000)
				if p < 30 {
					s := 1 + rng.IntN(5)
					r.SurveyScore = &s
				}
			case p < 95:
				r.Disposition = AbandonedQueue
				r.Offers[0].Outcome = OfferCancelled
			default:
				r.Disposition, r.Offers = Overflowed, nil
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

func BenchmarkReport1M(b *testing.B) {
	const n = 1_000_000
	targets := map[string]Target{"diamond": {0.95, 10 * time.Second}, "gold": {0.8, 20 * time.Second}}
	for _, by := range []Dimension{ByTier, ByAgent} {
		b.Run(string(by), func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			for range b.N {
				rows, err := Report(generated(n), Options{Interval: 15 * time.Minute, By: by, Targets: targets, Totals: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(rows) == 0 {
					b.Fatal("no rows")
				}
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkReadReport is the `hotline report` path: files → records → rows.
func BenchmarkReadReport(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	w, err := NewCallWriter(WriterOptions{Dir: dir, Sync: SyncNone, QueueSize: 1024, EnqueueTimeout: time.Minute,
		Clock: func() time.Time { return day1 }})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	for r := range generated(n) {
		r.IVRTrace = sampleRecord(0, day1).IVRTrace
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		rows, err := Report(Read(dir, time.Time{}, time.Time{}), Options{Interval: time.Hour, By: ByQueue})
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) == 0 {
			b.Fatal("no rows")
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkHistory: filing a finished call under its caller and reading a
// caller's last calls for the customer card, 200,000 callers held.
func BenchmarkHistory(b *testing.B) {
	h := NewHistory(HistoryOptions{})
	t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	rec := func(i int) Record {
		return Record{CallID: strconv.Itoa(i), Caller: "138" + strconv.Itoa(10_000_000+i%200_000), Times: Times{Arrival: t0.Add(time.Duration(i) * time.Second)},
			Queue: "billing", Agent: "1001", Disposition: Answered, WrapUpCode: "resolved"}
	}
	for i := 0; i < 1_000_000; i++ {
		h.Add(rec(i))
	}
	b.Run("add", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h.Add(rec(1_000_000 + i))
		}
	})
	b.Run("last5", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if len(h.Last("138"+strconv.Itoa(10_000_000+i%200_000), 5)) != 5 {
				b.Fatal("history lost calls")
			}
		}
	})
}
