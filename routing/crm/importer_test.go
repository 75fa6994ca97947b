package crm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newTestImporter(t *testing.T, s Store) *Importer {
	t.Helper()
	im, err := NewImporter(s, ImportConfig{Tiers: DemoTiers})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestDemoFixtureLoads(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	rep, err := newTestImporter(t, s).ImportFile(ctx, filepath.Join("..", "..", "testdata", "crm", "customers.csv"), FullLoad)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RejectedCount != 0 || rep.Loaded != 4 {
		t.Fatalf("demo fixture: loaded %d, rejected %v", rep.Loaded, rep.Rejects)
	}
	// DEMO.md's customer table, looked up the way a SIP From header may carry it.
	want := []struct {
		caller, name, tier, region string
		blacklisted                bool
	}{
		{"13800000001", "Demo Diamond", "diamond", "north", false},
		{"+8613800000002", "Demo Gold", "gold", "north", false},
		{"008613800000003", "Demo Silver", "silver", "south", false},
		{"13800000009", "Demo Blocked", "normal", "south", true},
	}
	for _, w := range want {
		number, err := NumberPlan{}.Normalise(w.caller)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Get(ctx, number)
		if err != nil {
			t.Fatalf("%s: %v", w.caller, err)
		}
		if c.Name != w.name || c.Tier != w.tier || c.Region != w.region || c.Blacklisted != w.blacklisted {
			t.Errorf("%s = %+v, want %+v", w.caller, c, w)
		}
	}
}

func TestImportRejectsBadRowsKeepsGood(t *testing.T) {
	const file = `name,number,tier,region,blacklisted,id,attr:contract
Good One,13800000001,diamond,north,no,C1,2-year
Bad Tier,13800000002,platinum,north,no,C2,
Bad Flag,13800000003,gold,south,maybe,C3,
Bad Number,138-0000-0004x,gold,south,no,C4,
Duplicate,+86 138 0000 0001,gold,north,no,C5,
Short Row,13800000006,gold
Good Two,13800000007,GOLD,,yes,,
Too Short,12,gold,south,no,C8,
`
	ctx := context.Background()
	s := NewMemStore()
	rep, err := newTestImporter(t, s).ImportCSV(ctx, strings.NewReader(file), FullLoad)
	if err != nil {
		t.Fatal(err)
	}
	type rej struct {
		line   int
		reason RejectReason
	}
	var got []rej
	for _, r := range rep.Rejects {
		got = append(got, rej{r.Line, r.Reason})
		if r.Detail == "" {
			t.Errorf("reject at line %d has no detail", r.Line)
		}
	}
	want := []rej{
		{3, RejectBadTier},
		{4, RejectBadBlacklisted},
		{5, RejectMalformedNumber},
		{6, RejectDuplicateNumber},
		{7, RejectBadRow},
		{9, RejectMalformedNumber},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rejects = %v, want %v", got, want)
	}
	if r := rep.Rejects[4]; r.Number != "13800000006" {
		t.Fatalf("short row reported with number %q", r.Number)
	}
	if rep.Rows != 8 || rep.Loaded != 2 || rep.RejectedCount != 6 {
		t.Fatalf("report rows=%d loaded=%d rejected=%d", rep.Rows, rep.Loaded, rep.RejectedCount)
	}
	c1, err := s.Get(ctx, "13800000001")
	if err != nil || c1.ID != "C1" || c1.Name != "Good One" || c1.Attributes["contract"] != "2-year" {
		t.Fatalf("good row 1: %+v, %v", c1, err)
	}
	c7, err := s.Get(ctx, "13800000007")
	if err != nil || c7.Tier != "gold" || !c7.Blacklisted || c7.ID != "13800000007" || c7.Attributes != nil {
		t.Fatalf("good row 2: %+v, %v", c7, err)
	}
	if n, _ := s.Len(ctx); n != 2 {
		t.Fatalf("store holds %d customers, want 2", n)
	}
}

func TestImportIncrementalChangesTier(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	im := newTestImporter(t, s)
	if _, err := im.ImportCSV(ctx, strings.NewReader("number,name,tier,region,blacklisted\n13800000001,A,gold,north,no\n13800000002,B,silver,south,no\n13800000003,C,silver,south,no\n"), FullLoad); err != nil {
		t.Fatal(err)
	}
	const update = `op,number,name,tier,region,blacklisted
upsert,13800000001,A,diamond,north,no
delete,+8613800000002,,,,
delete,13800000099,,,,
,13800000004,D,normal,south,yes
rename,13800000003,C,gold,south,no
`
	rep, err := im.ImportCSV(ctx, strings.NewReader(update), Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Upserted != 2 || rep.Deleted != 1 || rep.Missing != 1 || rep.RejectedCount != 1 || rep.Rejects[0].Reason != RejectBadOp || rep.Rejects[0].Line != 6 {
		t.Fatalf("report: %+v", rep)
	}
	r := newTestResolver(t, ResolverConfig{Store: s})
	tests := []struct {
		number, tier string
		known        bool
	}{
		{"13800000001", "diamond", true},
		{"13800000002", DefaultTier, false},
		{"13800000003", "silver", true},
		{"13800000004", "normal", true},
	}
	for _, tt := range tests {
		c, err := r.Lookup(ctx, tt.number)
		if err != nil || c.Tier != tt.tier || c.Known() != tt.known {
			t.Errorf("Lookup(%s) = %+v, %v; want tier %s known %v", tt.number, c, err, tt.tier, tt.known)
		}
	}
}

func TestImportWholeFileFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, file string
		mode       Mode
	}{
		{"empty", "", FullLoad},
		{"missing tier column", "number,name,region,blacklisted\n13800000001,A,north,no\n", FullLoad},
		{"unknown column", "number,name,tier,region,blacklisted,colour\n", FullLoad},
		{"column twice", "number,name,tier,region,blacklisted,Number\n", FullLoad},
		{"every row bad", "number,name,tier,region,blacklisted\n13800000001,A,bronze,north,no\n", FullLoad},
		{"delete in full load only", "op,number,name,tier,region,blacklisted\ndelete,13800000001,,,,\n", FullLoad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemStore()
			_ = s.Put(ctx, Customer{Number: "13800000005", Tier: "gold"})
			if _, err := newTestImporter(t, s).ImportCSV(ctx, strings.NewReader(tt.file), tt.mode); err == nil {
				t.Fatal("import succeeded")
			}
			if _, err := s.Get(ctx, "13800000005"); err != nil {
				t.Fatalf("failed import changed the store: %v", err)
			}
		})
	}
	if _, err := NewImporter(NewMemStore(), ImportConfig{}); err == nil {
		t.Fatal("importer without tiers accepted")
	}
	if _, err := newTestImporter(t, NewMemStore()).ImportFile(ctx, filepath.Join(t.TempDir(), "nope.csv"), FullLoad); err == nil {
		t.Fatal("missing file imported")
	}
}

func TestImportCapsRejectDetails(t *testing.T) {
	var b strings.Builder
	b.WriteString("number,name,tier,region,blacklisted\n13800000001,ok,gold,,no\n")
	for range 30 {
		b.WriteString("x,bad,gold,,no\n")
	}
	im, err := NewImporter(NewMemStore(), ImportConfig{Tiers: DemoTiers, MaxRejectDetails: 5})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := im.ImportCSV(context.Background(), strings.NewReader(b.String()), FullLoad)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RejectedCount != 30 || len(rep.Rejects) != 5 || rep.Loaded != 1 {
		t.Fatalf("rejected %d, details %d, loaded %d", rep.RejectedCount, len(rep.Rejects), rep.Loaded)
	}
}

func TestWatchFileReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.csv")
	write := func(body string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// Explicit times: two writes within the file system's timestamp
		// granularity must still look different.
		mt := time.Now().Add(-age)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("number,name,tier,region,blacklisted\n13800000001,A,gold,north,no\n", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	store := NewMemStore()
	im := newTestImporter(t, store)
	if _, err := im.ImportFile(ctx, path, FullLoad); err != nil {
		t.Fatal(err)
	}
	loads := make(chan error, 10)
	w, err := im.WatchFile(path, 5*time.Millisecond, func(_ Report, err error) {
		select {
		case loads <- err:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}()
	write("number,name,tier,region,blacklisted\n13800000001,A,diamond,north,no\n", 0)
	if err := <-loads; err != nil {
		t.Fatal(err)
	}
	if c, err := store.Get(ctx, "13800000001"); err != nil || c.Tier != "diamond" {
		t.Fatalf("after change: %+v, %v", c, err)
	}
	// A broken rewrite is reported and leaves the last good set.
	if _, err := im.WatchFile(filepath.Join(t.TempDir(), "missing.csv"), 0, nil); err == nil {
		t.Fatal("watching a missing file accepted")
	}
	write("number,name\n", -time.Hour)
	if err := <-loads; err == nil {
		t.Fatal("broken file reloaded without error")
	}
	if c, err := store.Get(ctx, "13800000001"); err != nil || c.Tier != "diamond" {
		t.Fatalf("after broken rewrite: %+v, %v", c, err)
	}
}

func TestImportIncrementalDeletesOnly(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	_ = s.Put(ctx, Customer{Number: "13800000001", Tier: "gold"})
	_ = s.Put(ctx, Customer{Number: "13800000002", Tier: "gold"})
	im := newTestImporter(t, s)
	rep, err := im.ImportCSV(ctx, strings.NewReader("number,op\n13800000001,delete\n13800000002,upsert\n"), Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 1 || rep.RejectedCount != 1 || rep.Rejects[0].Reason != RejectBadTier || rep.Rejects[0].Line != 3 {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := s.Get(ctx, "13800000002"); err != nil {
		t.Fatal("rejected upsert changed the store")
	}
	if _, err := im.ImportCSV(ctx, strings.NewReader("number,op\n13800000001,delete\n"), FullLoad); err == nil {
		t.Fatal("full load without a tier column accepted")
	}
	js, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(js), `"Mode":"incremental"`) {
		t.Fatalf("report JSON %s, %v", js, err)
	}
}
