package recording

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Sweep deletes recordings (WAV and sidecar) whose newest file is older
// than maxAge, never one for which active(callID) is true, and removes day
// directories left empty. It returns the deleted call ids. A nil active is
// treated as "nothing is active"; pass Recorder.Active in the engine.
func Sweep(root string, maxAge time.Duration, active func(callID string) bool) (deleted []string, err error) {
	return sweepAt(root, maxAge, active, time.Now())
}

func sweepAt(root string, maxAge time.Duration, active func(string) bool, now time.Time) ([]string, error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("sweep: retention age must be positive, got %v", maxAge)
	}
	all, err := allEntries(root)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	cutoff := now.Add(-maxAge)
	var deleted []string
	var errs []error
	for _, e := range all {
		if active != nil && active(e.id) {
			continue
		}
		newest, ok := newestMod(e)
		if !ok || !newest.Before(cutoff) {
			continue
		}
		var rmErr error
		for _, p := range []string{e.wavPath(), e.metaPath()} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				rmErr = errors.Join(rmErr, fmt.Errorf("sweep %s: %w", e.id, err))
			}
		}
		if rmErr != nil {
			errs = append(errs, rmErr)
			continue
		}
		deleted = append(deleted, e.id)
	}
	// Remove empty day, month and year directories, deepest first; Remove
	// fails harmlessly on a directory that is not empty.
	if days, derr := dayDirs(root); derr == nil {
		for _, d := range days {
			p := filepath.Join(root, filepath.FromSlash(d))
			for range 3 {
				if os.Remove(p) != nil {
					break
				}
				p = filepath.Dir(p)
			}
		}
	}
	return deleted, errors.Join(errs...)
}

func newestMod(e entry) (time.Time, bool) {
	var newest time.Time
	found := false
	for _, p := range []string{e.wavPath(), e.metaPath()} {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		found = true
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest, found
}
