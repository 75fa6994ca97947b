package callctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The callbacks file keeps what was put across a new process, and a
// damaged file is an error, not an empty list (callbacks would be lost).
func TestFileCallbacks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state", "callbacks.json")
	s := FileCallbacks(path)
	if all, err := s.All(ctx); err != nil || len(all) != 0 {
		t.Fatalf("new file: %v %v", all, err)
	}
	for _, id := range []string{"a-cb", "b-cb", "c-cb"} {
		if err := s.Put(ctx, id, []byte(`{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "b-cb"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	all, err := FileCallbacks(path).All(ctx)
	if err != nil || len(all) != 2 || string(all["c-cb"]) != `{"id":"c-cb"}` || all["b-cb"] != nil {
		t.Fatalf("after a restart: %q %v", all, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := os.WriteFile(path, []byte(`{"a-cb": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FileCallbacks(path).All(ctx); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged file: %v", err)
	}
}
