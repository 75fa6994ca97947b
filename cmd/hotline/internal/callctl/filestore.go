package callctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// fileCallbacks keeps pending callbacks in one JSON file, rewritten
// atomically (temporary file, fsync, rename) on every change: callbacks
// change a few times a minute, and a crash must leave the old file or the
// new one, never half of either.
type fileCallbacks struct {
	path string

	mu     sync.Mutex
	loaded bool
	m      map[string]json.RawMessage
}

// FileCallbacks is a CallbackStore in the file at path (its directory is
// made when first written).
func FileCallbacks(path string) CallbackStore {
	return &fileCallbacks{path: path}
}

func (f *fileCallbacks) load() error {
	if f.loaded {
		return nil
	}
	f.m = map[string]json.RawMessage{}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("callbacks file: %w", err)
	default:
		if err := json.Unmarshal(b, &f.m); err != nil {
			return fmt.Errorf("callbacks file %s: %w", f.path, err)
		}
	}
	f.loaded = true
	return nil
}

func (f *fileCallbacks) save() error {
	b, err := json.Marshal(f.m)
	if err != nil {
		return fmt.Errorf("callbacks file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return fmt.Errorf("callbacks file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".callbacks-*")
	if err != nil {
		return fmt.Errorf("callbacks file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("callbacks file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("callbacks file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("callbacks file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("callbacks file: %w", err)
	}
	return nil
}

// Put implements CallbackStore.
func (f *fileCallbacks) Put(_ context.Context, id string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return err
	}
	f.m[id] = append(json.RawMessage(nil), data...)
	return f.save()
}

// Delete implements CallbackStore.
func (f *fileCallbacks) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return err
	}
	if _, ok := f.m[id]; !ok {
		return nil
	}
	delete(f.m, id)
	return f.save()
}

// All implements CallbackStore.
func (f *fileCallbacks) All(context.Context) (map[string][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(f.m))
	for k, v := range f.m {
		out[k] = v
	}
	return out, nil
}
