package campaign

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// AttemptRecord is one attempt (or skipped preview) of a contact, as kept
// with its progress and exported.
type AttemptRecord struct {
	CallID   string            `json:"call_id,omitempty"` // empty for a skipped preview
	Attempt  int               `json:"attempt"`           // the dial attempt it was (or would have been)
	Agent    string            `json:"agent,omitempty"`
	Started  time.Time         `json:"started"`
	Answered time.Time         `json:"answered,omitzero"`
	Ended    time.Time         `json:"ended,omitzero"`
	Outcome  Outcome           `json:"outcome"`
	Cause    string            `json:"cause,omitempty"`
	Talk     time.Duration     `json:"talk,omitempty"`
	WrapUp   string            `json:"wrap_up,omitempty"`
	Answers  map[string]string `json:"answers,omitempty"`
	DNC      bool              `json:"dnc,omitempty"`
}

// ContactProgress is what the dialler knows about one contact beyond its
// row: the part that must survive a restart.
type ContactProgress struct {
	ID string `json:"id"`
	// Version grows with every change; a store keeps the highest.
	Version  uint64       `json:"v"`
	State    ContactState `json:"state"`
	Attempts int          `json:"attempts"` // dial attempts counted
	// Counts are the outcomes of its attempts (skips included).
	Counts      map[Outcome]int `json:"counts,omitempty"`
	LastOutcome Outcome         `json:"last_outcome,omitempty"`
	LastCause   string          `json:"last_cause,omitempty"`
	NextAt      time.Time       `json:"next_at,omitzero"` // RetryWait: due from
	Agent       string          `json:"agent,omitempty"`  // Previewing / Dialling: the agent
	Since       time.Time       `json:"since,omitzero"`   // Previewing / Dialling: since
	CallID      string          `json:"call_id,omitempty"`
	DNC         bool            `json:"dnc,omitempty"`
	History     []AttemptRecord `json:"history,omitempty"`
}

// Saved is a campaign's persisted progress.
type Saved struct {
	State        State                      `json:"state,omitempty"`
	StateVersion uint64                     `json:"state_v,omitempty"`
	DNC          []string                   `json:"dnc,omitempty"` // numbers added at run time
	Contacts     map[string]ContactProgress `json:"contacts,omitempty"`
}

// Batch is a set of changes to a campaign's progress.
type Batch struct {
	State        State             `json:"state,omitempty"` // "" = unchanged
	StateVersion uint64            `json:"state_v,omitempty"`
	DNC          []string          `json:"dnc,omitempty"`
	Contacts     []ContactProgress `json:"contacts,omitempty"`
}

func (b Batch) empty() bool { return b.State == "" && len(b.DNC) == 0 && len(b.Contacts) == 0 }

// Store keeps campaigns' progress across restarts. Implementations are
// safe for concurrent use; changes of one contact may arrive out of order
// and the highest Version wins.
type Store interface {
	// Load returns a campaign's saved progress; an empty Saved when there
	// is none.
	Load(ctx context.Context, campaign string) (Saved, error)
	// Save applies a batch of changes durably enough to survive a
	// restart of the process.
	Save(ctx context.Context, campaign string, b Batch) error
}

// apply merges a batch into saved progress, keeping the highest versions.
func (s *Saved) apply(b Batch) {
	if b.State != "" && b.StateVersion >= s.StateVersion {
		s.State, s.StateVersion = b.State, b.StateVersion
	}
	for _, n := range b.DNC {
		if !containsString(s.DNC, n) {
			s.DNC = append(s.DNC, n)
		}
	}
	if s.Contacts == nil && len(b.Contacts) > 0 {
		s.Contacts = make(map[string]ContactProgress, len(b.Contacts))
	}
	for _, c := range b.Contacts {
		if old, ok := s.Contacts[c.ID]; ok && old.Version > c.Version {
			continue
		}
		s.Contacts[c.ID] = c
	}
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// MemoryStore keeps progress in memory (tests, and campaigns that need
// not survive a restart).
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]*Saved
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string]*Saved{}} }

// Load implements Store.
func (s *MemoryStore) Load(_ context.Context, campaign string) (Saved, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, ok := s.m[campaign]
	if !ok {
		return Saved{}, nil
	}
	return cloneSaved(sv), nil
}

// Save implements Store.
func (s *MemoryStore) Save(_ context.Context, campaign string, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, ok := s.m[campaign]
	if !ok {
		sv = &Saved{}
		s.m[campaign] = sv
	}
	sv.apply(cloneBatch(b))
	return nil
}

func cloneSaved(sv *Saved) Saved {
	out := Saved{State: sv.State, StateVersion: sv.StateVersion, DNC: append([]string(nil), sv.DNC...),
		Contacts: make(map[string]ContactProgress, len(sv.Contacts))}
	for k, c := range sv.Contacts {
		out.Contacts[k] = c.clone()
	}
	return out
}

func cloneBatch(b Batch) Batch {
	out := b
	out.DNC = append([]string(nil), b.DNC...)
	out.Contacts = make([]ContactProgress, len(b.Contacts))
	for i, c := range b.Contacts {
		out.Contacts[i] = c.clone()
	}
	return out
}

func (c ContactProgress) clone() ContactProgress {
	if c.Counts != nil {
		m := make(map[Outcome]int, len(c.Counts))
		for k, v := range c.Counts {
			m[k] = v
		}
		c.Counts = m
	}
	if c.History != nil {
		h := make([]AttemptRecord, len(c.History))
		copy(h, c.History)
		c.History = h
	}
	return c
}

// FileStore keeps each campaign's progress in a directory: a snapshot
// <campaign>.json written atomically (temporary file, fsync, rename) and a
// journal <campaign>.journal of the batches since, one JSON line each,
// appended as changes happen. Loading reads the snapshot and replays the
// journal (a torn last line from a crash is ignored); when the journal
// grows past the snapshot's size, it is folded into a new snapshot. A
// process crash loses nothing written; a power loss may lose the journal's
// last lines unless Sync is set.
type FileStore struct {
	dir string
	// Sync fsyncs the journal after every batch (slower; survives power
	// loss).
	Sync bool
	log  *slog.Logger

	mu    sync.Mutex
	camps map[string]*fileCampaign
}

type fileCampaign struct {
	saved   Saved
	journal *os.File
	lines   int // journal lines since the snapshot
}

// NewFileStore uses (and creates) dir.
func NewFileStore(dir string, log *slog.Logger) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &FileStore{dir: dir, log: log, camps: map[string]*fileCampaign{}}, nil
}

func (s *FileStore) paths(campaign string) (snap, journal string) {
	return filepath.Join(s.dir, campaign+".json"), filepath.Join(s.dir, campaign+".journal")
}

// Load implements Store. Campaign names are checked by the spec (no path
// separators).
func (s *FileStore) Load(_ context.Context, campaign string) (Saved, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc, err := s.open(campaign)
	if err != nil {
		return Saved{}, err
	}
	return cloneSaved(&fc.saved), nil
}

// open reads a campaign's files once and keeps its journal open.
func (s *FileStore) open(campaign string) (*fileCampaign, error) {
	if fc, ok := s.camps[campaign]; ok {
		return fc, nil
	}
	if !nameRe.MatchString(campaign) {
		return nil, fmt.Errorf("campaign store: bad campaign name %q", campaign)
	}
	snap, jpath := s.paths(campaign)
	fc := &fileCampaign{}
	data, err := os.ReadFile(snap)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("campaign store: %w", err)
	default:
		if err := json.Unmarshal(data, &fc.saved); err != nil {
			return nil, fmt.Errorf("campaign store: %s: %w", snap, err)
		}
	}
	jdata, err := os.ReadFile(jpath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(jdata))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var b Batch
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			// Only a torn last line (a crash mid-write) is expected.
			s.log.Warn("campaign store: journal line unreadable, ignored", "file", jpath, "line", line, "err", err)
			continue
		}
		fc.saved.apply(b)
		fc.lines++
	}
	if err := s.validate(&fc.saved, campaign); err != nil {
		return nil, err
	}
	// Fold what was replayed into a fresh snapshot, so a torn line is
	// not appended to.
	if err := s.snapshot(campaign, fc); err != nil {
		return nil, err
	}
	s.camps[campaign] = fc
	return fc, nil
}

func (s *FileStore) validate(sv *Saved, campaign string) error {
	if sv.State != "" && !validState(sv.State) {
		return fmt.Errorf("campaign store: %s: unknown campaign state %q", campaign, sv.State)
	}
	for id, c := range sv.Contacts {
		if !validContactState(c.State) {
			return fmt.Errorf("campaign store: %s: contact %q: unknown state %q", campaign, id, c.State)
		}
	}
	return nil
}

// snapshot writes the campaign's progress atomically and starts an empty
// journal.
func (s *FileStore) snapshot(campaign string, fc *fileCampaign) error {
	snap, jpath := s.paths(campaign)
	data, err := json.Marshal(&fc.saved)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if err := writeAtomic(snap, data); err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	if fc.journal != nil {
		fc.journal.Close()
	}
	fc.journal, err = os.OpenFile(jpath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	fc.lines = 0
	return nil
}

// Save implements Store.
func (s *FileStore) Save(_ context.Context, campaign string, b Batch) error {
	if b.empty() {
		return nil
	}
	line, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("campaign store: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	fc, err := s.open(campaign)
	if err != nil {
		return err
	}
	fc.saved.apply(cloneBatch(b))
	if _, err := fc.journal.Write(line); err != nil {
		return fmt.Errorf("campaign store: journal: %w", err)
	}
	if s.Sync {
		if err := fc.journal.Sync(); err != nil {
			return fmt.Errorf("campaign store: journal: %w", err)
		}
	}
	fc.lines++
	// Fold the journal once it holds about as many changes as the
	// snapshot has contacts: replay stays short, rewrites stay rare.
	if fc.lines >= max(1000, len(fc.saved.Contacts)) {
		return s.snapshot(campaign, fc)
	}
	return nil
}

// Close writes every open campaign's snapshot and closes its journal.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	names := make([]string, 0, len(s.camps))
	for n := range s.camps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fc := s.camps[n]
		if err := s.snapshot(n, fc); err != nil {
			errs = append(errs, err)
		}
		fc.journal.Close()
		delete(s.camps, n)
	}
	return errors.Join(errs...)
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
