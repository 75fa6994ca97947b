package crm

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Mode selects how an import changes the store.
type Mode int

const (
	// FullLoad replaces the whole customer set with the good rows.
	FullLoad Mode = iota
	// Incremental applies each row as an upsert or a delete (column "op").
	Incremental
)

// MarshalText writes the mode by name in JSON reports.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m Mode) String() string {
	if m == Incremental {
		return "incremental"
	}
	return "full"
}

// RejectReason classifies a rejected row.
type RejectReason string

const (
	RejectMalformedNumber RejectReason = "malformed number"
	RejectDuplicateNumber RejectReason = "duplicate number"
	RejectBadTier         RejectReason = "bad tier"
	RejectBadBlacklisted  RejectReason = "bad blacklisted value"
	RejectBadOp           RejectReason = "bad op"
	RejectBadRow          RejectReason = "bad row"
)

// Reject is one row the import left out.
type Reject struct {
	// Line is the 1-based line in a CSV file, or the 1-based position in
	// the page for an HTTP pull.
	Line int
	// Page is the HTTP pull page number; 0 for CSV.
	Page   int
	Number string // as written in the source
	Reason RejectReason
	Detail string
}

func (r Reject) String() string {
	where := fmt.Sprintf("line %d", r.Line)
	if r.Page > 0 {
		where = fmt.Sprintf("page %d item %d", r.Page, r.Line)
	}
	return fmt.Sprintf("%s: %s %q: %s", where, r.Reason, r.Number, r.Detail)
}

// Report summarises one import.
type Report struct {
	Source   string
	Mode     Mode
	Rows     int // data rows read
	Loaded   int // full load: customers in the new set
	Upserted int // incremental
	Deleted  int // incremental
	Missing  int // incremental deletes of numbers the store did not hold
	// RejectedCount counts every rejected row; Rejects lists the first
	// ImportConfig.MaxRejectDetails of them.
	RejectedCount int
	Rejects       []Reject
	Duration      time.Duration
}

// ImportConfig is shared by the CSV importer and the HTTP pull.
type ImportConfig struct {
	// Tiers is the allowed set of tier names (case-insensitive); required.
	Tiers []string
	Plan  NumberPlan
	// MaxRejectDetails caps Report.Rejects (default 1000).
	MaxRejectDetails int
	Logger           *slog.Logger
}

// Importer loads customers into a Store from CSV files.
type Importer struct {
	store  Store
	plan   NumberPlan
	tiers  map[string]string // lower-case → canonical spelling
	maxRej int
	log    *slog.Logger
}

// NewImporter checks cfg and returns an importer writing into store.
func NewImporter(store Store, cfg ImportConfig) (*Importer, error) {
	if store == nil {
		return nil, errors.New("crm: importer: nil store")
	}
	if len(cfg.Tiers) == 0 {
		return nil, errors.New("crm: importer: no allowed tiers given")
	}
	im := &Importer{store: store, plan: cfg.Plan.withDefaults(), tiers: make(map[string]string), maxRej: cfg.MaxRejectDetails, log: cfg.Logger}
	for _, t := range cfg.Tiers {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, errors.New("crm: importer: empty tier name in allowed set")
		}
		im.tiers[strings.ToLower(t)] = t
	}
	if im.maxRej <= 0 {
		im.maxRej = 1000
	}
	if im.log == nil {
		im.log = slog.Default()
	}
	return im, nil
}

// rawCustomer is a row as read from a source, before validation.
type rawCustomer struct {
	op          string
	number      string
	id          string
	name        string
	tier        string
	region      string
	blacklisted string
	attrs       map[string]string
}

// validate turns a raw row into a customer, or says why it cannot.
func (im *Importer) validate(raw rawCustomer, needTier bool) (Customer, RejectReason, string) {
	number, err := im.plan.Normalise(raw.number)
	if err != nil {
		return Customer{}, RejectMalformedNumber, err.Error()
	}
	c := Customer{Number: number, ID: strings.TrimSpace(raw.id), Name: strings.TrimSpace(raw.name),
		Region: strings.TrimSpace(raw.region), Attributes: raw.attrs}
	if !needTier {
		return c, "", ""
	}
	tier, ok := im.tiers[strings.ToLower(strings.TrimSpace(raw.tier))]
	if !ok {
		return Customer{}, RejectBadTier, fmt.Sprintf("tier %q is not one of the configured tiers", raw.tier)
	}
	c.Tier = tier
	if c.Blacklisted, ok = parseBlacklisted(raw.blacklisted); !ok {
		return Customer{}, RejectBadBlacklisted, fmt.Sprintf("blacklisted %q: want yes/no, true/false or 1/0", raw.blacklisted)
	}
	if len(c.ID) > maxField || len(c.Name) > maxField {
		return Customer{}, RejectBadRow, fmt.Sprintf("id or name longer than %d bytes", maxField)
	}
	if c.ID == "" {
		c.ID = c.Number
	}
	return c, "", ""
}

// sourceRow is a raw row with its position in the source.
type sourceRow struct {
	raw  rawCustomer
	line int
}

// parseBlacklisted reads a blacklist flag; empty means no.
func parseBlacklisted(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "no", "n", "false", "0":
		return false, true
	case "yes", "y", "true", "1":
		return true, true
	}
	return false, false
}

// batch accumulates the report of one import.
type batch struct {
	im     *Importer
	report Report
	seen   map[uint64]int32 // canonical number key → line (CSV) or page<<20|item (pull) first seen
}

func (im *Importer) newBatch(source string, mode Mode) *batch {
	return &batch{im: im, report: Report{Source: source, Mode: mode}, seen: make(map[uint64]int32)}
}

func (b *batch) reject(r Reject) {
	b.report.RejectedCount++
	if len(b.report.Rejects) < b.im.maxRej {
		b.report.Rejects = append(b.report.Rejects, r)
	}
}

// accept validates one raw row; it returns the customer and whether to use it.
func (b *batch) accept(raw rawCustomer, line, page int, needTier bool) (Customer, bool) {
	b.report.Rows++
	c, reason, detail := b.im.validate(raw, needTier)
	if reason != "" {
		b.reject(Reject{Line: line, Page: page, Number: raw.number, Reason: reason, Detail: detail})
		return Customer{}, false
	}
	key, _ := numberKey(c.Number)
	if first, dup := b.seen[key]; dup {
		where := fmt.Sprintf("line %d", first)
		if page > 0 {
			where = fmt.Sprintf("page %d item %d", first>>20, first&(1<<20-1))
		}
		b.reject(Reject{Line: line, Page: page, Number: raw.number, Reason: RejectDuplicateNumber,
			Detail: fmt.Sprintf("%s already given at %s", c.Number, where)})
		return Customer{}, false
	}
	if page > 0 {
		b.seen[key] = int32(page<<20 | line)
	} else {
		b.seen[key] = int32(line)
	}
	return c, true
}

// csvColumns maps header names to column indexes.
type csvColumns struct {
	number, id, name, tier, region, blacklisted, op int
	attrs                                           map[int]string
	width                                           int
}

func parseHeader(header []string, mode Mode) (csvColumns, error) {
	cols := csvColumns{number: -1, id: -1, name: -1, tier: -1, region: -1, blacklisted: -1, op: -1, width: len(header)}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // spreadsheet exports
		}
		lh := strings.ToLower(h)
		var slot *int
		switch lh {
		case "number":
			slot = &cols.number
		case "id":
			slot = &cols.id
		case "name":
			slot = &cols.name
		case "tier":
			slot = &cols.tier
		case "region":
			slot = &cols.region
		case "blacklisted":
			slot = &cols.blacklisted
		case "op":
			slot = &cols.op
		default:
			if strings.HasPrefix(lh, "attr:") && len(h) > len("attr:") {
				if cols.attrs == nil {
					cols.attrs = make(map[int]string)
				}
				cols.attrs[i] = h[len("attr:"):]
				continue
			}
			return cols, fmt.Errorf("unknown column %q (want number,name,tier,region,blacklisted[,id][,op][,attr:*])", h)
		}
		if *slot >= 0 {
			return cols, fmt.Errorf("column %q given twice", h)
		}
		*slot = i
	}
	if cols.number < 0 {
		return cols, errors.New(`missing column "number"`)
	}
	// Incremental files may carry deletes only; their upserts are rejected
	// row by row for the missing tier.
	if cols.tier < 0 && mode == FullLoad {
		return cols, errors.New(`missing column "tier"`)
	}
	return cols, nil
}

func (cols csvColumns) raw(rec []string) rawCustomer {
	get := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return rec[i]
	}
	r := rawCustomer{op: get(cols.op), number: get(cols.number), id: get(cols.id), name: get(cols.name),
		tier: get(cols.tier), region: get(cols.region), blacklisted: get(cols.blacklisted)}
	for i, k := range cols.attrs {
		if v := strings.TrimSpace(get(i)); v != "" {
			if r.attrs == nil {
				r.attrs = make(map[string]string, len(cols.attrs))
			}
			r.attrs[k] = v
		}
	}
	return r
}

// ImportFile imports a CSV file; see ImportCSV.
func (im *Importer) ImportFile(ctx context.Context, path string, mode Mode) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{Source: path, Mode: mode}, fmt.Errorf("crm: import: %w", err)
	}
	defer f.Close()
	return im.importCSV(ctx, f, path, mode)
}

// ImportCSV reads customers from CSV with a header row naming the columns,
// in any order: number (required), tier (required for a full load), name,
// region, blacklisted (yes/no, true/false, 1/0; empty is no), id (defaults to
// the number), op (upsert/delete, incremental mode) and attr:<key> for free
// desktop attributes. Bad rows are
// reported and skipped; good rows are loaded. A full load that rejects every
// row keeps the previous customer set. The error is for failures of the
// import as a whole (unreadable input, bad header, store failure).
func (im *Importer) ImportCSV(ctx context.Context, r io.Reader, mode Mode) (Report, error) {
	return im.importCSV(ctx, r, "csv", mode)
}

func (im *Importer) importCSV(ctx context.Context, r io.Reader, source string, mode Mode) (Report, error) {
	start := time.Now()
	b := im.newBatch(source, mode)
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty file, want a header row")
		}
		return b.report, fmt.Errorf("crm: import %s: header: %w", source, err)
	}
	cols, err := parseHeader(header, mode)
	if err != nil {
		return b.report, fmt.Errorf("crm: import %s: header: %w", source, err)
	}
	// rows yields the good rows; reading errors abort the import.
	rows := func(yield func(sourceRow, error) bool) {
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return
			}
			line, _ := cr.FieldPos(0)
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					yield(sourceRow{}, err)
					return
				}
				b.report.Rows++
				b.reject(Reject{Line: pe.StartLine, Reason: RejectBadRow, Detail: pe.Err.Error()})
				continue
			}
			if len(rec) != cols.width {
				b.report.Rows++
				b.reject(Reject{Line: line, Number: cols.raw(rec).number, Reason: RejectBadRow,
					Detail: fmt.Sprintf("%d fields, header has %d", len(rec), cols.width)})
				continue
			}
			if !yield(sourceRow{raw: cols.raw(rec), line: line}, nil) {
				return
			}
		}
	}
	if mode == Incremental {
		err = im.applyIncremental(ctx, b, rows)
	} else {
		err = im.replace(ctx, b, func(yield func(Customer, error) bool) {
			for row, err := range rows {
				if err != nil {
					yield(Customer{}, err)
					return
				}
				raw, line := row.raw, row.line
				if op := strings.ToLower(strings.TrimSpace(raw.op)); op != "" && op != "upsert" {
					b.report.Rows++
					b.reject(Reject{Line: line, Number: raw.number, Reason: RejectBadOp, Detail: fmt.Sprintf("op %q in a full load", raw.op)})
					continue
				}
				if c, ok := b.accept(raw, line, 0, true); ok && !yield(c, nil) {
					return
				}
			}
		})
	}
	b.report.Duration = time.Since(start)
	if err != nil {
		return b.report, fmt.Errorf("crm: import %s: %w", source, err)
	}
	im.log.Info("crm import done", "source", source, "mode", mode, "rows", b.report.Rows,
		"loaded", b.report.Loaded, "upserted", b.report.Upserted, "deleted", b.report.Deleted,
		"rejected", b.report.RejectedCount, "duration", b.report.Duration)
	return b.report, nil
}

// errAllRejected aborts a full load that would empty the store because every
// row was bad — almost always a broken export, not an intent.
var errAllRejected = errors.New("every row rejected; previous customer set kept")

// replace runs a full load of the good customers in seq through Store.Replace.
func (im *Importer) replace(ctx context.Context, b *batch, seq iter.Seq2[Customer, error]) error {
	return im.store.Replace(ctx, func(yield func(Customer, error) bool) {
		for c, err := range seq {
			if err != nil {
				yield(Customer{}, err)
				return
			}
			b.report.Loaded++
			if !yield(c, nil) {
				return
			}
		}
		if b.report.Loaded == 0 && b.report.Rows > 0 {
			yield(Customer{}, errAllRejected)
		}
	})
}

func (im *Importer) applyIncremental(ctx context.Context, b *batch, rows iter.Seq2[sourceRow, error]) error {
	for row, err := range rows {
		if err != nil {
			return err
		}
		raw, line := row.raw, row.line
		if err := ctx.Err(); err != nil {
			return err
		}
		op := strings.ToLower(strings.TrimSpace(raw.op))
		switch op {
		case "", "upsert":
			c, ok := b.accept(raw, line, 0, true)
			if !ok {
				continue
			}
			if err := im.store.Put(ctx, c); err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
			b.report.Upserted++
		case "delete":
			c, ok := b.accept(raw, line, 0, false)
			if !ok {
				continue
			}
			err := im.store.Delete(ctx, c.Number)
			switch {
			case errors.Is(err, ErrNotFound):
				b.report.Missing++
			case err != nil:
				return fmt.Errorf("line %d: %w", line, err)
			default:
				b.report.Deleted++
			}
		default:
			b.report.Rows++
			b.reject(Reject{Line: line, Number: raw.number, Reason: RejectBadOp, Detail: fmt.Sprintf("op %q: want upsert or delete", raw.op)})
		}
	}
	return nil
}

// FileWatch reloads a customer file when it changes; see Importer.WatchFile.
type FileWatch struct {
	im       *Importer
	path     string
	interval time.Duration
	onLoad   func(Report, error)
	last     os.FileInfo
}

// WatchFile prepares to re-import path as a full load whenever its size or
// modification time differs from now, checking every interval (default
// 30 s) once Run is called. It does not load the file: call ImportFile first
// so that a broken file fails startup. onLoad, when set, sees every reload's
// report.
func (im *Importer) WatchFile(path string, interval time.Duration, onLoad func(Report, error)) (*FileWatch, error) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("crm: watch %s: %w", path, err)
	}
	return &FileWatch{im: im, path: path, interval: interval, onLoad: onLoad, last: fi}, nil
}

// Run checks the file until ctx ends. A failed reload is logged and keeps
// the previous customer set.
func (w *FileWatch) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fi, err := os.Stat(w.path)
		if err != nil {
			w.im.log.Warn("crm: watched customer file unreadable", "path", w.path, "err", err)
			continue
		}
		if fi.Size() == w.last.Size() && fi.ModTime().Equal(w.last.ModTime()) {
			continue
		}
		w.last = fi
		rep, err := w.im.ImportFile(ctx, w.path, FullLoad)
		if err != nil && ctx.Err() == nil {
			w.im.log.Error("crm: reloading customer file failed; keeping the previous customer set", "path", w.path, "err", err)
		}
		if w.onLoad != nil {
			w.onLoad(rep, err)
		}
	}
}
