package crm

import (
	"context"
	"fmt"
	"testing"
)

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
