package recording

import (
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
