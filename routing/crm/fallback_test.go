package crm_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/routing/crm/crmtest"
)

// The fallback pair is a Store like any other.
func TestFallbackStoreContract(t *testing.T) {
	crmtest.RunStore(t, func(*testing.T) crm.Store { return crm.Fallback{Shared: crm.NewMemStore(), Local: crm.NewMemStore()} })
}

var errDown = errors.New("redis: connection refused")

// downStore is a shared store whose Redis is gone.
type downStore struct{}

func (downStore) Get(context.Context, string) (crm.Customer, error) { return crm.Customer{}, errDown }
func (downStore) Put(context.Context, crm.Customer) error           { return errDown }
func (downStore) Delete(context.Context, string) error              { return errDown }
func (downStore) Len(context.Context) (int, error)                  { return 0, errDown }
func (downStore) Replace(context.Context, iter.Seq2[crm.Customer, error]) error {
	return errDown // gives up before pulling a single customer
}

// quitter pulls one customer, then its Redis dies.
type quitter struct{ crm.Store }

func (q quitter) Replace(ctx context.Context, all iter.Seq2[crm.Customer, error]) error {
	for range all {
		return errDown
	}
	return nil
}

var fixture = []crm.Customer{
	{Number: "8613800000001", Name: "Demo Diamond", Tier: "diamond"},
	{Number: "8613800000002", Name: "Demo Gold", Tier: "gold"},
	{Number: "8613800000003", Name: "Demo Silver", Tier: "silver"},
}

func TestFallbackKeepsTheLocalCopyWhenSharedFails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		shared crm.Store
	}{
		{"shared down", downStore{}},
		{"shared dies mid-reload", quitter{crm.NewMemStore()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := crm.NewMemStore()
			f := crm.Fallback{Shared: tc.shared, Local: local}
			if err := f.Replace(ctx, crmtest.Seq(fixture...)); !errors.Is(err, errDown) {
				t.Fatalf("Replace: %v, want the shared store's error", err)
			}
			if n, _ := local.Len(ctx); n != len(fixture) {
				t.Fatalf("local copy holds %d customers, want %d", n, len(fixture))
			}
			if tc.name == "shared down" {
				c, err := f.Get(ctx, "8613800000001")
				if err != nil || c.Tier != "diamond" {
					t.Fatalf("lookup with Redis down: %+v, %v; want the diamond customer from the local copy", c, err)
				}
			}
		})
	}
}

func TestFallbackSourceErrorKeepsBothSets(t *testing.T) {
	ctx := context.Background()
	shared, local := crm.NewMemStore(), crm.NewMemStore()
	f := crm.Fallback{Shared: shared, Local: local}
	if err := f.Replace(ctx, crmtest.Seq(fixture...)); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("row 2: bad tier")
	broken := func(yield func(crm.Customer, error) bool) {
		if yield(crm.Customer{Number: "8613900000009", Tier: "normal"}, nil) {
			yield(crm.Customer{}, bad)
		}
	}
	if err := f.Replace(ctx, broken); !errors.Is(err, bad) {
		t.Fatalf("Replace: %v, want the source error", err)
	}
	for name, s := range map[string]crm.Store{"shared": shared, "local": local} {
		if n, _ := s.Len(ctx); n != len(fixture) {
			t.Errorf("%s holds %d customers after a failed reload, want the previous %d", name, n, len(fixture))
		}
	}
	// Not found in a working shared store is an answer, not a failure.
	if _, err := f.Get(ctx, "8613900000009"); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("unknown number: %v, want ErrNotFound", err)
	}
}

// A node starting while Redis is down still loads its customers: with
// Report set, the shared failure is reported, not returned.
func TestFallbackReportsSharedFailures(t *testing.T) {
	var reported []string
	f := crm.Fallback{Shared: downStore{}, Local: crm.NewMemStore(), Report: func(op string, err error) {
		reported = append(reported, op+": "+err.Error())
	}}
	ctx := context.Background()
	if err := f.Replace(ctx, crmtest.Seq(fixture...)); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if err := f.Put(ctx, crm.Customer{Number: "8613900000001", Tier: "gold"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(reported) != 2 {
		t.Fatalf("reported %v, want the replace and the put", reported)
	}
	if c, err := f.Get(ctx, "8613900000001"); err != nil || c.Tier != "gold" {
		t.Fatalf("Get: %+v, %v", c, err)
	}
}
