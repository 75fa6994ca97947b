package sip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Registrations outlive the process: a phone registers for up to an hour
// and re-registers only shortly before that runs out, so an engine that
// forgot its phones at a restart could ring no agent for up to an hour. A
// single node keeps its bindings in a small file (SaveBindings, written to
// a temporary file, synced and renamed over the old one, so a crash leaves
// the old or the new file, never half of one) and restores the unexpired
// ones at start-up (Registrar.Restore); several nodes share them in their
// Directory and restore their own from it.

// bindingsFile is the file's form: a version for future changes, then the
// bindings by user.
type bindingsFile struct {
	Version  int                  `json:"version"`
	Saved    time.Time            `json:"saved"`
	Bindings map[string][]Binding `json:"bindings"`
}

// Snapshot returns every user's live bindings.
func (r *Registrar) Snapshot() map[string][]Binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := map[string][]Binding{}
	for u, bs := range r.bindings {
		for _, b := range bs {
			if b.Expires.After(now) {
				out[u] = append(out[u], b)
			}
		}
	}
	return out
}

// Restore adds bindings saved by an earlier process (or published by this
// node to a Directory) and returns how many live ones it took. Expired
// bindings are skipped; a contact already registered here keeps its
// current binding (a phone that re-registered since is newer).
func (r *Registrar) Restore(saved map[string][]Binding) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	n := 0
	users := make([]string, 0, len(saved))
	for u := range saved {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		current := r.bindings[u]
		have := map[string]bool{}
		for _, b := range current {
			have[contactKey(b.Contact)] = true
		}
		for _, b := range saved[u] {
			if !b.Expires.After(now) || have[contactKey(b.Contact)] || len(current) >= r.maxContacts {
				continue
			}
			if b.Expires.Sub(now) > time.Duration(r.maxExpires)*time.Second {
				b.Expires = now.Add(time.Duration(r.maxExpires) * time.Second) // a clock that jumped back
			}
			b.Node = r.node
			current = append(current, b)
			have[contactKey(b.Contact)] = true
			n++
		}
		if len(current) > 0 {
			r.bindings[u] = current
		}
	}
	if n > 0 {
		r.version++
	}
	return n
}

// Version changes whenever the bindings do (a REGISTER, an unregister, a
// restore); a saver compares it to skip writes that would change nothing.
func (r *Registrar) Version() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version
}

// Count is how many users have a live binding, and how many live contacts
// they have between them.
func (r *Registrar) Count() (users, contacts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, bs := range r.bindings {
		live := 0
		for _, b := range bs {
			if b.Expires.After(now) {
				live++
			}
		}
		if live > 0 {
			users++
			contacts += live
		}
	}
	return users, contacts
}

// SaveBindings writes bindings to path atomically (temporary file in the
// same directory, fsync, rename, fsync of the directory).
func SaveBindings(path string, bindings map[string][]Binding) error {
	data, err := json.Marshal(bindingsFile{Version: 1, Saved: time.Now().UTC(), Bindings: bindings})
	if err != nil {
		return fmt.Errorf("sip: save registrations: %w", err)
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("sip: save registrations: %w", err)
	}
	return nil
}

// LoadBindings reads what SaveBindings wrote. A missing file is no
// bindings, not an error (the first start).
func LoadBindings(path string) (map[string][]Binding, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sip: load registrations: %w", err)
	}
	var f bindingsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("sip: load registrations %s: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("sip: load registrations %s: unknown version %d", path, f.Version)
	}
	return f.Bindings, nil
}

// WriteFileAtomic replaces path with data so that a crash at any moment
// leaves either the old content or the new, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself survives a power cut
		d.Close()
	}
	return nil
}

// PersistBindings saves the registrar's bindings to path whenever they
// changed, checking every `every`, and once more when ctx ends (a clean
// stop loses nothing; a crash at most the last interval's REGISTERs, which
// the phones repeat). A failed write is logged and retried.
func PersistBindings(ctx context.Context, r *Registrar, path string, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	saved := ^uint64(0) // the first check writes: the file may be older than the registrar
	save := func() {
		v := r.Version()
		if v == saved {
			return
		}
		if err := SaveBindings(path, r.Snapshot()); err != nil {
			log.Warn("registrations not saved; phones restored after a restart may be out of date", "file", path, "err", err)
			return
		}
		saved = v
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-t.C:
			save()
		}
	}
}
