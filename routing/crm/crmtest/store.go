// Package crmtest holds the behaviour every crm.Store must show, as a test
// suite that each store implementation (memory, Redis) runs against itself.
package crmtest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"
	"testing"

	"github.com/hotlinecc/hotline/routing/crm"
)

// Seq yields the given customers, for Store.Replace.
func Seq(cs ...crm.Customer) iter.Seq2[crm.Customer, error] {
	return func(yield func(crm.Customer, error) bool) {
		for _, c := range cs {
			if !yield(c, nil) {
				return
			}
		}
	}
}

// RunStore runs the Store contract; newStore returns an empty store for each
// subtest.
func RunStore(t *testing.T, newStore func(t *testing.T) crm.Store) {
	t.Run("GetPutDelete", func(t *testing.T) { testGetPutDelete(t, newStore(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
}

func testGetPutDelete(t *testing.T, s crm.Store) {
	ctx := context.Background()
	gold := crm.Customer{ID: "C-2", Number: "13800000002", Name: "Demo Gold", Tier: "gold", Region: "north",
		Attributes: map[string]string{"plan": "unlimited"}}
	if err := s.Put(ctx, gold); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, crm.Customer{Number: "13800000009", Name: "Demo Blocked", Tier: "normal", Blacklisted: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, crm.Customer{Number: "+442079460000", Name: "Abroad", Tier: "silver"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number string
		want   crm.Customer
		err    error
	}{
		{"13800000002", crm.Customer{ID: "C-2", Number: "13800000002", Name: "Demo Gold", Tier: "gold", Region: "north",
			Attributes: map[string]string{"plan": "unlimited"}, Source: crm.SourceStore}, nil},
		// ID defaults to the number.
		{"13800000009", crm.Customer{ID: "13800000009", Number: "13800000009", Name: "Demo Blocked", Tier: "normal",
			Blacklisted: true, Source: crm.SourceStore}, nil},
		{"+442079460000", crm.Customer{ID: "+442079460000", Number: "+442079460000", Name: "Abroad", Tier: "silver",
			Source: crm.SourceStore}, nil},
		{"13800000003", crm.Customer{}, crm.ErrNotFound},
		{"+13800000002", crm.Customer{}, crm.ErrNotFound},
		{"not-a-number", crm.Customer{}, crm.ErrMalformedNumber},
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

	// An update replaces the whole record, attributes included.
	if err := s.Put(ctx, crm.Customer{ID: "C-2", Number: "13800000002", Name: "Demo Gold", Tier: "diamond"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "13800000002"); got.Tier != "diamond" || got.Attributes != nil || got.Region != "" {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.Delete(ctx, "13800000002"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "13800000002"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Delete(ctx, "13800000002"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if got, err := s.Get(ctx, "13800000009"); err != nil || !got.Blacklisted {
		t.Fatalf("survivor: %+v, %v", got, err)
	}
	if n, _ := s.Len(ctx); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	if err := s.Put(ctx, crm.Customer{Number: "+86 138"}); !errors.Is(err, crm.ErrMalformedNumber) {
		t.Fatalf("Put of a non-canonical number: %v", err)
	}
}

func testReplace(t *testing.T, s crm.Store) {
	ctx := context.Background()
	if err := s.Replace(ctx, Seq(crm.Customer{Number: "13800000001", Tier: "diamond"}, crm.Customer{Number: "13800000002", Tier: "gold"})); err != nil {
		t.Fatal(err)
	}
	// A failing reload keeps the previous set.
	boom := errors.New("boom")
	err := s.Replace(ctx, func(yield func(crm.Customer, error) bool) {
		if yield(crm.Customer{Number: "13900000000", Tier: "gold"}, nil) {
			yield(crm.Customer{}, boom)
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Replace error = %v, want boom", err)
	}
	if n, _ := s.Len(ctx); n != 2 {
		t.Fatalf("Len after failed reload = %d, want 2", n)
	}
	if _, err := s.Get(ctx, "13900000000"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatal("failed reload leaked a customer")
	}
	// A cancelled reload keeps the previous set too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	many := make([]crm.Customer, 10000)
	for i := range many {
		many[i] = crm.Customer{Number: fmt.Sprint(13700000000 + i), Tier: "gold"}
	}
	if err := s.Replace(cctx, Seq(many...)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Replace error = %v", err)
	}
	if n, _ := s.Len(ctx); n != 2 {
		t.Fatalf("Len after cancelled reload = %d, want 2", n)
	}
	if err := s.Replace(ctx, Seq(crm.Customer{Number: "13800000003", Tier: "silver"}, crm.Customer{Number: "13800000003", Tier: "gold"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "13800000001"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatal("full reload kept a customer it did not list")
	}
	if c, err := s.Get(ctx, "13800000003"); err != nil || c.Tier != "gold" {
		t.Fatalf("after reload (last duplicate wins): %+v, %v", c, err)
	}
}

// testConcurrent runs readers against incremental writers and full reloads;
// the race detector checks the locking, the readers check for torn records.
func testConcurrent(t *testing.T, s crm.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				c, err := s.Get(ctx, fmt.Sprint(13800000000+(i+r)%50))
				if err != nil && !errors.Is(err, crm.ErrNotFound) {
					t.Error(err)
					return
				}
				if err == nil && !(c.Tier == "gold" && c.Name == "put") && !(c.Tier == "silver" && c.Name == "reload") {
					t.Errorf("torn read: %+v", c)
					return
				}
			}
		})
	}
	for range 20 {
		for i := range 50 {
			if err := s.Put(ctx, crm.Customer{Number: fmt.Sprint(13800000000 + i), Name: "put", Tier: "gold"}); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				if err := s.Delete(ctx, fmt.Sprint(13800000000+i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		cs := make([]crm.Customer, 25)
		for i := range cs {
			cs[i] = crm.Customer{Number: fmt.Sprint(13800000000 + i*2), Name: "reload", Tier: "silver"}
		}
		if err := s.Replace(ctx, Seq(cs...)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
}
