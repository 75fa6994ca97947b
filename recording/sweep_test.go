package recording

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSweep(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	calls := []struct {
		id     string
		age    time.Duration
		active bool
		gone   bool
	}{
		{id: "old", age: 40 * 24 * time.Hour, gone: true},
		{id: "old-but-active", age: 40 * 24 * time.Hour, active: true},
		{id: "young", age: 2 * time.Hour},
	}
	active := map[string]bool{}
	for _, c := range calls {
		clk := newFakeClock()
		clk.t = now.Add(-c.age)
		rec, err := Open(root, Meta{CallID: c.id}, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		m, err := rec.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{wavPathOf(root, m), filepath.Join(filepath.Dir(wavPathOf(root, m)), c.id+".json")} {
			if err := os.Chtimes(p, now.Add(-c.age), now.Add(-c.age)); err != nil {
				t.Fatal(err)
			}
		}
		active[c.id] = c.active
	}
	deleted, err := sweepAt(root, 30*24*time.Hour, func(id string) bool { return active[id] }, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{"old"}) {
		t.Errorf("deleted %v, want [old]", deleted)
	}
	all, err := allEntries(root)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range all {
		if !e.hasWAV || !e.hasMeta {
			t.Errorf("%s lost half its files", e.id)
		}
		left = append(left, e.id)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"old-but-active", "young"}) {
		t.Errorf("left %v", left)
	}
	// The active call's day directory stays; no empty ones are left.
	days, _ := dayDirs(root)
	for _, d := range days {
		if es, _ := entriesIn(root, d); len(es) == 0 {
			t.Errorf("empty day directory %s left behind", d)
		}
	}
	if _, err := sweepAt(root, 0, nil, now); err == nil {
		t.Error("zero retention accepted; it would delete everything")
	}
}

// TestRecorderRetention: Run sweeps old recordings on its own and stops
// with its context.
func TestRecorderRetention(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	clk := newFakeClock()
	clk.t = old
	rec, err := Open(root, Meta{CallID: "old"}, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := rec.Close()
	wav := wavPathOf(root, m)
	for _, p := range []string{wav, filepath.Join(filepath.Dir(wav), "old.json")} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	rc := NewRecorder(Config{Root: root, Retention: 24 * time.Hour, SweepEvery: 10 * time.Millisecond})
	keep, err := rc.Open(Meta{CallID: "live"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rc.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(wav); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention never deleted the old recording")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := keep.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wavPathOf(root, keep.Meta())); err != nil {
		t.Errorf("live recording touched: %v", err)
	}
}
