package crm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"
	"testing"
)

func seqOf(cs ...Customer) iter.Seq2[Customer, error] {
	return func(yield func(Customer, error) bool) {
		for _, c := range cs {
			if !yield(c, nil) {
				return
			}
		}
	}
}

func TestMemStoreGetPutDelete(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	gold := Customer{ID: "C-2", Number: "13800000002", Name: "Demo Gold", Tier: "gold", Region: "north",
		Attributes: map[string]string{"plan": "unlimited"}}
	if err := s.Put(ctx, gold); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Customer{Number: "13800000009", Name: "Demo Blocked", Tier: "normal", Blacklisted: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number string
		want   Customer
		err    error
	}{
		{"13800000002", Customer{ID: "C-2", Number: "13800000002", Name: "Demo Gold", Tier: "gold", Region: "north",
			Attributes: map[string]string{"plan": "unlimited"}, Source: SourceStore}, nil},
		// ID defaults to the number.
		{"13800000009", Customer{ID: "13800000009", Number: "13800000009", Name: "Demo Blocked", Tier: "normal",
			Blacklisted: true, Source: SourceStore}, nil},
		{"13800000003", Customer{}, ErrNotFound},
		{"+13800000002", Customer{}, ErrNotFound},
		{"not-a-number", Customer{}, ErrMalformedNumber},
	}
	for _, tt := range tests {
		got, err := s.Get(ctx, tt.number)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Fatalf("Get(%s) error = %v, want %v", tt.number, err, tt.err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("Get(%s) = %+v, want %+v", tt.number, got, tt.want)
		}
	}

	// Callers cannot change the stored attributes through the map they got.
	got, _ := s.Get(ctx, "13800000002")
	got.Attributes["plan"] = "changed"
	if again, _ := s.Get(ctx, "13800000002"); again.Attributes["plan"] != "unlimited" {
		t.Fatal("stored attributes changed through a returned map")
	}

	// Update in place drops attributes not given again.
	if err := s.Put(ctx, Customer{ID: "C-2", Number: "13800000002", Name: "Demo Gold", Tier: "diamond"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "13800000002"); got.Tier != "diamond" || got.Attributes != nil || got.Region != "" {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.Delete(ctx, "13800000002"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "13800000002"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Delete(ctx, "13800000002"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// The record moved into the deleted slot is still found.
	if got, err := s.Get(ctx, "13800000009"); err != nil || !got.Blacklisted {
		t.Fatalf("survivor: %+v, %v", got, err)
	}
	if n, _ := s.Len(ctx); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	if err := s.Put(ctx, Customer{Number: "+86 138"}); !errors.Is(err, ErrMalformedNumber) {
		t.Fatalf("Put of a non-canonical number: %v", err)
	}
}

func TestMemStoreReplace(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	if err := s.Replace(ctx, seqOf(Customer{Number: "13800000001", Tier: "diamond"}, Customer{Number: "13800000002", Tier: "gold"})); err != nil {
		t.Fatal(err)
	}
	// A failing reload keeps the previous set.
	boom := errors.New("boom")
	err := s.Replace(ctx, func(yield func(Customer, error) bool) {
		if yield(Customer{Number: "13900000000", Tier: "gold"}, nil) {
			yield(Customer{}, boom)
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Replace error = %v, want boom", err)
	}
	if n, _ := s.Len(ctx); n != 2 {
		t.Fatalf("Len after failed reload = %d, want 2", n)
	}
	if _, err := s.Get(ctx, "13900000000"); !errors.Is(err, ErrNotFound) {
		t.Fatal("failed reload leaked a customer")
	}
	if err := s.Replace(ctx, seqOf(Customer{Number: "13800000003", Tier: "silver"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "13800000001"); !errors.Is(err, ErrNotFound) {
		t.Fatal("full reload kept a customer it did not list")
	}
	if c, err := s.Get(ctx, "13800000003"); err != nil || c.Tier != "silver" {
		t.Fatalf("after reload: %+v, %v", c, err)
	}
}

// TestMemStoreArenaCompaction churns one customer's name until the shard
// compacts its arena, then checks every customer still reads back.
func TestMemStoreArenaCompaction(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	for i := range 200 {
		if err := s.Put(ctx, Customer{Number: fmt.Sprint(13900000000 + i), Name: fmt.Sprintf("customer %d", i), Tier: "gold"}); err != nil {
			t.Fatal(err)
		}
	}
	long := make([]byte, 4000)
	for i := range long {
		long[i] = 'x'
	}
	for i := range 100 {
		if err := s.Put(ctx, Customer{Number: "13900000007", Name: fmt.Sprintf("%d %s", i, long), Tier: "gold"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		c, err := s.Get(ctx, fmt.Sprint(13900000000+i))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("customer %d", i)
		if i == 7 {
			want = fmt.Sprintf("99 %s", long)
		}
		if c.Name != want {
			t.Fatalf("customer %d name = %.20q…, want %.20q…", i, c.Name, want)
		}
	}
	total := 0
	snap := s.snap.Load()
	for i := range snap.shards {
		total += len(snap.shards[i].arena)
	}
	if total > 100*4000/2 {
		t.Fatalf("arena holds %d bytes after churn; compaction did not run", total)
	}
}

// TestMemStoreConcurrent runs readers against incremental writers and full
// reloads; the race detector checks the locking.
func TestMemStoreConcurrent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewMemStore()
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				c, err := s.Get(ctx, fmt.Sprint(13800000000+(i+r)%50))
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
					return
				}
				if err == nil && c.Tier != "gold" && c.Tier != "silver" {
					t.Errorf("torn read: %+v", c)
					return
				}
			}
		})
	}
	for round := range 20 {
		for i := range 50 {
			_ = s.Put(ctx, Customer{Number: fmt.Sprint(13800000000 + i), Name: "n", Tier: "gold"})
			if i%3 == 0 {
				_ = s.Delete(ctx, fmt.Sprint(13800000000+i))
			}
		}
		cs := make([]Customer, 25)
		for i := range cs {
			cs[i] = Customer{Number: fmt.Sprint(13800000000 + i*2), Name: fmt.Sprint(round), Tier: "silver"}
		}
		if err := s.Replace(ctx, seqOf(cs...)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
}
