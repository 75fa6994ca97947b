package cdr

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead: whatever a crash, a full disk or an editor leaves in a record
// file, Read skips what it cannot parse and never fails or panics.
func FuzzRead(f *testing.F) {
	good, err := os.ReadFile(filepath.Join(fixtureDir, "calls-2026-11-21.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("\n\n{\"call_id\":1}\n[]\nnull\n{\"times\":{\"arrival\":\"yesterday\"}}"))
	f.Add([]byte{0xff, 0xfe, '\n', '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "calls-2026-11-21.jsonl"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, err := range ReadLog[Record](dir, CallsPrefix, time.Time{}, time.Time{}, quietLogger()) {
			if err != nil {
				t.Fatalf("read: %v", err)
			}
		}
		if _, err := Report(ReadLog[Record](dir, CallsPrefix, time.Time{}, time.Time{}, quietLogger()), Options{By: ByAgent}); err != nil {
			t.Fatalf("report: %v", err)
		}
	})
}
