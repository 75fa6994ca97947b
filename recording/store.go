package recording

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// entry is one call's files in a day directory.
type entry struct {
	id      string
	day     string // slash separated YYYY/MM/DD
	dir     string // OS path of the day directory
	hasWAV  bool
	hasMeta bool
}

func (e entry) wavPath() string  { return filepath.Join(e.dir, e.id+".wav") }
func (e entry) metaPath() string { return filepath.Join(e.dir, e.id+".json") }

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dayDirs lists the YYYY/MM/DD directories under root, oldest first. A
// missing root is not an error: nothing has been recorded yet.
func dayDirs(root string) ([]string, error) {
	var days []string
	years, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list recordings root: %w", err)
	}
	for _, y := range years {
		if !y.IsDir() || !isDigits(y.Name(), 4) {
			continue
		}
		months, err := os.ReadDir(filepath.Join(root, y.Name()))
		if err != nil {
			return nil, fmt.Errorf("list recordings: %w", err)
		}
		for _, m := range months {
			if !m.IsDir() || !isDigits(m.Name(), 2) {
				continue
			}
			ds, err := os.ReadDir(filepath.Join(root, y.Name(), m.Name()))
			if err != nil {
				return nil, fmt.Errorf("list recordings: %w", err)
			}
			for _, d := range ds {
				if d.IsDir() && isDigits(d.Name(), 2) {
					days = append(days, y.Name()+"/"+m.Name()+"/"+d.Name())
				}
			}
		}
	}
	sort.Strings(days)
	return days, nil
}

// entriesIn lists the recordings of one day directory, sorted by id.
func entriesIn(root, day string) ([]entry, error) {
	dir := filepath.Join(root, filepath.FromSlash(day))
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list recordings of %s: %w", day, err)
	}
	byID := map[string]*entry{}
	var ids []string
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		name := de.Name()
		ext := filepath.Ext(name)
		id := strings.TrimSuffix(name, ext)
		if (ext != ".wav" && ext != ".json") || !ValidCallID(id) {
			continue
		}
		e := byID[id]
		if e == nil {
			e = &entry{id: id, day: day, dir: dir}
			byID[id] = e
			ids = append(ids, id)
		}
		if ext == ".wav" {
			e.hasWAV = true
		} else {
			e.hasMeta = true
		}
	}
	sort.Strings(ids)
	out := make([]entry, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out, nil
}

// allEntries lists every recording under root, oldest day first.
func allEntries(root string) ([]entry, error) {
	days, err := dayDirs(root)
	if err != nil {
		return nil, err
	}
	var all []entry
	for _, d := range days {
		es, err := entriesIn(root, d)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	return all, nil
}
