package cdr

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Timed is a log record with the time reports and readers filter it by.
type Timed interface {
	RecordTime() time.Time
}

// Read yields the call records in dir whose RecordTime is in [from, to)
// (a zero bound is open), file by file in the order they were written. A
// line that is not a record — the last line of a file cut by a crash, or a
// damaged one — is skipped with a warning. The error of a pair is set only
// when a file cannot be read; iteration stops after it.
func Read(dir string, from, to time.Time) iter.Seq2[Record, error] {
	return ReadLog[Record](dir, CallsPrefix, from, to, nil)
}

// ReadLog is Read for any of the logs: prefix selects the files
// (CallsPrefix, AgentStatesPrefix, AuditPrefix). A nil logger logs to
// slog.Default.
func ReadLog[T Timed](dir, prefix string, from, to time.Time, logger *slog.Logger) iter.Seq2[T, error] {
	if logger == nil {
		logger = slog.Default()
	}
	return func(yield func(T, error) bool) {
		var zero T
		files, err := logFiles(dir, prefix, from, to)
		if err != nil {
			yield(zero, err)
			return
		}
		for i, name := range files {
			if !readFile(name, i == len(files)-1, from, to, logger, yield) {
				return
			}
		}
	}
}

type logFile struct {
	name string
	day  time.Time
	idx  int
}

// logFiles lists the files that can hold records of [from, to). A line goes
// to the file of the day it was written, which for a call record is when the
// call ended — up to a day after its RecordTime — so files are kept from the
// day before from to the day after to.
func logFiles(dir, prefix string, from, to time.Time) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cdr: list record directory: %w", err)
	}
	var files []logFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		day, idx, ok := parseFileName(prefix, e.Name())
		if !ok {
			continue
		}
		if !from.IsZero() && day.Before(from.UTC().AddDate(0, 0, -2)) {
			continue
		}
		if !to.IsZero() && day.After(to.UTC().AddDate(0, 0, 1)) {
			continue
		}
		files = append(files, logFile{filepath.Join(dir, e.Name()), day, idx})
	}
	slices.SortFunc(files, func(a, b logFile) int {
		if c := a.day.Compare(b.day); c != 0 {
			return c
		}
		return a.idx - b.idx
	})
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	return names, nil
}

// readFile yields the records of one file. In the newest file (newest) a
// cut last line is most likely a batch the writer is writing right now, so
// it is only logged at debug level; elsewhere it is a crash's mark.
func readFile[T Timed](name string, newest bool, from, to time.Time, logger *slog.Logger, yield func(T, error) bool) bool {
	var zero T
	f, err := os.Open(name)
	if err != nil {
		return yield(zero, fmt.Errorf("cdr: open record file: %w", err))
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return yield(zero, fmt.Errorf("cdr: read %s: %w", name, err))
		}
		last := errors.Is(err, io.EOF)
		body := bytes.TrimSpace(line)
		if len(body) > 0 {
			var rec T
			if jerr := json.Unmarshal(body, &rec); jerr != nil {
				if last && !bytes.HasSuffix(line, []byte{'\n'}) {
					level := slog.LevelWarn
					if newest {
						level = slog.LevelDebug
					}
					logger.Log(context.Background(), level, "record file ends in a cut line (crash while writing?), skipped", "file", name, "line", lineNo)
				} else {
					logger.Warn("damaged record line skipped", "file", name, "line", lineNo, "err", jerr)
				}
			} else if inRange(rec.RecordTime(), from, to) {
				if !yield(rec, nil) {
					return false
				}
			}
		}
		if last {
			return true
		}
	}
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}
