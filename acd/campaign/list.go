package campaign

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/hotlinecc/hotline/routing/crm"
)

// RejectReason classifies a row left out of a campaign's list.
type RejectReason string

// Reasons a row is rejected.
const (
	RejectBadNumber       RejectReason = "bad number"
	RejectDuplicateNumber RejectReason = "duplicate number"
	RejectDuplicateID     RejectReason = "duplicate id"
	RejectMissingColumn   RejectReason = "missing column"
	RejectExtraColumn     RejectReason = "extra column"
	RejectBadTier         RejectReason = "bad tier"
	RejectBadRow          RejectReason = "bad row"
)

// Reject is one row of a list or pull that is not a contact.
type Reject struct {
	Source string // file path or pull URL
	Line   int    // CSV line (1 = header), or the item's position in a JSON page
	Page   int    // pull page, 0 for files
	Number string // as written
	Reason RejectReason
	Detail string
}

func (r Reject) String() string {
	where := fmt.Sprintf("%s:%d", r.Source, r.Line)
	if r.Page > 0 {
		where = fmt.Sprintf("%s page %d item %d", r.Source, r.Page, r.Line)
	}
	if r.Detail == "" {
		return fmt.Sprintf("%s: %s %q", where, r.Reason, r.Number)
	}
	return fmt.Sprintf("%s: %s %q: %s", where, r.Reason, r.Number, r.Detail)
}

// ImportReport says what a campaign's list import did. Every data row is
// either loaded or rejected: Rows == Loaded + RejectedCount.
type ImportReport struct {
	Sources []string
	Rows    int // data rows and pulled items read
	Loaded  int // contacts in the list
	// DNC counts loaded contacts on the do-not-call list (kept in the
	// list, marked, never dialled).
	DNC           int
	RejectedCount int
	Rejects       []Reject // the first MaxRejectDetails of them
	// NoWindow counts loaded contacts per region the spec gives no window
	// of its own (they use the default window); a typo shows here.
	NoWindow map[string]int
}

// ImportOptions tune a list import.
type ImportOptions struct {
	Plan crm.NumberPlan
	// Tiers, when set, is the allowed set of tier names; a row naming
	// another tier is rejected.
	Tiers []string
	// MaxRejectDetails caps ImportReport.Rejects (default 1000).
	MaxRejectDetails int
	// MaxContacts caps a list (default 1,000,000).
	MaxContacts int
	// Client makes pull requests (default: a new http.Client).
	Client *http.Client
}

// Field limits: lists come from spreadsheets, and a runaway cell must not
// end up on every desktop.
const (
	maxIDBytes    = 128
	maxFieldBytes = 1024
)

// List is a campaign's imported contacts, in list order.
type List struct {
	Contacts []Contact
	// Blacklisted are numbers the CRM pull marked blacklisted: they join
	// the do-not-call list.
	Blacklisted []string
	Report      ImportReport
}

// listBuilder accumulates contacts from the list file and the pull,
// refusing duplicates across both.
type listBuilder struct {
	opts     ImportOptions
	tiers    map[string]string // lower-case → canonical
	defTier  string
	list     *List
	byNumber map[string]string // number → where first given
	byID     map[string]string
}

func newListBuilder(defTier string, opts ImportOptions) *listBuilder {
	if opts.MaxRejectDetails <= 0 {
		opts.MaxRejectDetails = 1000
	}
	if opts.MaxContacts <= 0 {
		opts.MaxContacts = 1000000
	}
	b := &listBuilder{opts: opts, defTier: defTier, list: &List{}, byNumber: map[string]string{}, byID: map[string]string{}}
	if len(opts.Tiers) > 0 {
		b.tiers = map[string]string{}
		for _, t := range opts.Tiers {
			b.tiers[strings.ToLower(t)] = t
		}
	}
	return b
}

func (b *listBuilder) reject(r Reject) {
	b.list.Report.RejectedCount++
	if len(b.list.Report.Rejects) < b.opts.MaxRejectDetails {
		b.list.Report.Rejects = append(b.list.Report.Rejects, r)
	}
}

// add validates one row; where says where it was read ("line 4").
func (b *listBuilder) add(c Contact, src string, line, page int) error {
	b.list.Report.Rows++
	rej := func(reason RejectReason, detail string) error {
		b.reject(Reject{Source: src, Line: line, Page: page, Number: c.Number, Reason: reason, Detail: detail})
		return nil
	}
	where := fmt.Sprintf("line %d", line)
	if page > 0 {
		where = fmt.Sprintf("page %d item %d", page, line)
	}
	number, err := b.opts.Plan.Normalise(c.Number)
	if err != nil {
		return rej(RejectBadNumber, strings.TrimPrefix(err.Error(), "crm: "))
	}
	c.ID = strings.TrimSpace(c.ID)
	c.Name = strings.TrimSpace(c.Name)
	c.Region = strings.TrimSpace(c.Region)
	c.Tier = strings.TrimSpace(c.Tier)
	if c.ID == "" {
		c.ID = number
	}
	if len(c.ID) > maxIDBytes || len(c.Name) > maxFieldBytes || len(c.Region) > maxFieldBytes {
		return rej(RejectBadRow, fmt.Sprintf("id longer than %d bytes, or name or region longer than %d", maxIDBytes, maxFieldBytes))
	}
	for k, v := range c.Fields {
		if len(v) > maxFieldBytes {
			return rej(RejectBadRow, fmt.Sprintf("column %q longer than %d bytes", k, maxFieldBytes))
		}
	}
	switch {
	case c.Tier == "":
		c.Tier = b.defTier
	case b.tiers != nil:
		t, ok := b.tiers[strings.ToLower(c.Tier)]
		if !ok {
			return rej(RejectBadTier, fmt.Sprintf("tier %q is not one of the configured tiers", c.Tier))
		}
		c.Tier = t
	}
	if first, dup := b.byNumber[number]; dup {
		return rej(RejectDuplicateNumber, fmt.Sprintf("%s already given at %s", number, first))
	}
	if first, dup := b.byID[c.ID]; dup {
		return rej(RejectDuplicateID, fmt.Sprintf("id %q already given at %s", c.ID, first))
	}
	if len(b.list.Contacts) >= b.opts.MaxContacts {
		return fmt.Errorf("more than %d contacts", b.opts.MaxContacts)
	}
	c.Number = number
	at := where
	if src != "" {
		at = src + " " + where
	}
	b.byNumber[number] = at
	b.byID[c.ID] = at
	b.list.Contacts = append(b.list.Contacts, c)
	b.list.Report.Loaded++
	return nil
}

// csvHeader maps the columns of a contact CSV.
type csvHeader struct {
	number, id, name, region, tier int
	fields                         map[int]string
	width                          int
}

func parseContactHeader(header []string) (csvHeader, error) {
	h := csvHeader{number: -1, id: -1, name: -1, region: -1, tier: -1, fields: map[int]string{}, width: len(header)}
	seen := map[string]bool{}
	for i, col := range header {
		col = strings.TrimSpace(col)
		if i == 0 {
			col = strings.TrimPrefix(col, "\ufeff") // spreadsheet exports
		}
		if col == "" {
			return h, fmt.Errorf("column %d has no name", i+1)
		}
		lc := strings.ToLower(col)
		if seen[lc] {
			return h, fmt.Errorf("column %q given twice", col)
		}
		seen[lc] = true
		switch lc {
		case "number":
			h.number = i
		case "id":
			h.id = i
		case "name":
			h.name = i
		case "region":
			h.region = i
		case "tier":
			h.tier = i
		default:
			h.fields[i] = col
		}
	}
	if h.number < 0 {
		return h, errors.New(`missing column "number"`)
	}
	return h, nil
}

func (h csvHeader) contact(rec []string) Contact {
	get := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return rec[i]
	}
	c := Contact{Number: get(h.number), ID: get(h.id), Name: get(h.name), Region: get(h.region), Tier: get(h.tier)}
	for i, k := range h.fields {
		if v := strings.TrimSpace(get(i)); v != "" {
			if c.Fields == nil {
				c.Fields = make(map[string]string, len(h.fields))
			}
			c.Fields[k] = v
		}
	}
	return c
}

// readCSV adds the rows of a contact CSV: a header row naming number
// (required), id, name, region, tier in any order; every other column
// becomes a field shown to the agent.
func (b *listBuilder) readCSV(ctx context.Context, r io.Reader, src string, page int) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			if page > 0 {
				return nil // an empty page
			}
			err = errors.New("empty file, want a header row")
		}
		return fmt.Errorf("%s: header: %w", src, err)
	}
	h, err := parseContactHeader(header)
	if err != nil {
		return fmt.Errorf("%s:1: header: %w", src, err)
	}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("%s: %w", src, err)
			}
			b.list.Report.Rows++
			b.reject(Reject{Source: src, Line: pe.StartLine, Reason: RejectBadRow, Detail: pe.Err.Error()})
			continue
		}
		if len(rec) != h.width {
			b.list.Report.Rows++
			reason, detail := RejectMissingColumn, fmt.Sprintf("%d fields, the header has %d", len(rec), h.width)
			if len(rec) > h.width {
				reason = RejectExtraColumn
			}
			b.reject(Reject{Source: src, Line: line, Page: 0, Number: h.contact(rec).Number, Reason: reason, Detail: detail})
			continue
		}
		if err := b.add(h.contact(rec), src, line, 0); err != nil {
			return fmt.Errorf("%s:%d: %w", src, line, err)
		}
	}
}

// ReadList imports the contacts of a spec: its list file, then its pull.
// Bad rows are rejected and reported, never dropped silently; the error is
// for the import as a whole (unreadable file, bad header, pull failure).
func ReadList(ctx context.Context, s *Spec, opts ImportOptions) (*List, error) {
	b := newListBuilder(s.Tier, opts)
	if s.List != "" {
		f, err := os.Open(s.List)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: list: %w", s.Name, err)
		}
		err = b.readCSV(ctx, bufio.NewReaderSize(f, 64<<10), s.List, 0)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("campaign %s: list: %w", s.Name, err)
		}
		b.list.Report.Sources = append(b.list.Report.Sources, s.List)
	}
	if s.Pull != nil {
		if err := b.pull(ctx, s.Pull); err != nil {
			return nil, fmt.Errorf("campaign %s: pull: %w", s.Name, err)
		}
		b.list.Report.Sources = append(b.list.Report.Sources, s.Pull.URL)
	}
	rep := &b.list.Report
	for _, c := range b.list.Contacts {
		if _, own := s.Windows.Regions[c.Region]; !own && c.Region != "" {
			if rep.NoWindow == nil {
				rep.NoWindow = map[string]int{}
			}
			rep.NoWindow[c.Region]++
		}
	}
	return b.list, nil
}

// pullItem is one contact of a pulled JSON page: the CRM pull format.
type pullItem struct {
	Number      json.RawMessage   `json:"number"`
	ID          json.RawMessage   `json:"id"`
	Name        string            `json:"name"`
	Tier        string            `json:"tier"`
	Region      string            `json:"region"`
	Blacklisted bool              `json:"blacklisted"`
	Attributes  map[string]string `json:"attributes"`
	Fields      map[string]string `json:"fields"`
}

// jsonScalar reads a string or a number ("13800000001" or 13800000001).
func jsonScalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return string(raw)
}

func (b *listBuilder) pull(ctx context.Context, ps *PullSpec) error {
	client := b.opts.Client
	if client == nil {
		client = &http.Client{}
	}
	paged := strings.Contains(ps.URL, "{page}")
	for page := 1; ; page++ {
		if page > ps.MaxPages {
			return fmt.Errorf("more than %d pages", ps.MaxPages)
		}
		u := strings.ReplaceAll(ps.URL, "{page}", strconv.Itoa(page))
		body, err := fetch(ctx, client, u, ps)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		pageNo := 0
		if paged {
			pageNo = page
		}
		n, err := b.readPulled(ctx, body, ps.URL, pageNo)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		if !paged || n == 0 {
			return nil
		}
	}
}

// readPulled adds one pulled body (JSON or CSV) and returns its item count.
func (b *listBuilder) readPulled(ctx context.Context, body []byte, src string, page int) (int, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return 0, nil
	}
	if body[0] != '[' && body[0] != '{' {
		before := b.list.Report.Rows
		if page > 0 {
			src = fmt.Sprintf("%s (page %d)", src, page)
		}
		err := b.readCSV(ctx, bytes.NewReader(body), src, page)
		return b.list.Report.Rows - before, err
	}
	var items []pullItem
	var err error
	if body[0] == '{' {
		var wrapped struct {
			Customers []pullItem `json:"customers"`
			Contacts  []pullItem `json:"contacts"`
		}
		err = json.Unmarshal(body, &wrapped)
		items = append(wrapped.Customers, wrapped.Contacts...)
	} else {
		err = json.Unmarshal(body, &items)
	}
	if err != nil {
		return 0, fmt.Errorf("decoding the answer: %w", err)
	}
	for i, it := range items {
		fields := it.Fields
		for k, v := range it.Attributes {
			if fields == nil {
				fields = map[string]string{}
			}
			fields[k] = v
		}
		line := i + 1
		c := Contact{Number: jsonScalar(it.Number), ID: jsonScalar(it.ID), Name: it.Name, Region: it.Region, Tier: it.Tier, Fields: fields}
		loaded := b.list.Report.Loaded
		if err := b.add(c, src, line, max(page, 1)); err != nil {
			return 0, err
		}
		if it.Blacklisted && b.list.Report.Loaded > loaded {
			b.list.Blacklisted = append(b.list.Blacklisted, b.list.Contacts[len(b.list.Contacts)-1].Number)
		}
	}
	return len(items), nil
}

// maxPullBytes bounds one pulled page.
const maxPullBytes = 64 << 20

func fetch(ctx context.Context, client *http.Client, u string, ps *PullSpec) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ps.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, text/csv")
	if ps.AuthHeader != "" {
		req.Header.Set(ps.AuthHeader, ps.AuthValue)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPullBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxPullBytes {
		return nil, fmt.Errorf("answer larger than %d bytes", maxPullBytes)
	}
	return body, nil
}

// DNCList is a set of normalised numbers never to be called.
type DNCList struct {
	plan crm.NumberPlan
	m    map[string]struct{}
}

// NewDNCList returns an empty list normalising with plan.
func NewDNCList(plan crm.NumberPlan) *DNCList {
	return &DNCList{plan: plan, m: map[string]struct{}{}}
}

// ReadDNC reads a do-not-call file: one number per line; blank lines and
// text after '#' are ignored. A line that is not a number fails the whole
// file (file:line), since a typo there could call someone who asked not to
// be called.
func ReadDNC(path string, plan crm.NumberPlan) (*DNCList, error) {
	d := NewDNCList(plan)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("campaign: dnc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		if line == 1 {
			s = strings.TrimPrefix(s, "\ufeff")
		}
		s = strings.TrimSpace(s)
		if s == "" || (line == 1 && strings.EqualFold(s, "number")) {
			continue
		}
		if _, err := d.Add(s); err != nil {
			return nil, fmt.Errorf("campaign: dnc: %s:%d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("campaign: dnc: %s: %w", path, err)
	}
	return d, nil
}

// Add normalises and adds a number; it returns the normalised form.
func (d *DNCList) Add(number string) (string, error) {
	n, err := d.plan.Normalise(number)
	if err != nil {
		return "", err
	}
	d.m[n] = struct{}{}
	return n, nil
}

// Has reports whether a normalised number is on the list.
func (d *DNCList) Has(number string) bool {
	_, ok := d.m[number]
	return ok
}

// Len is the number of numbers on the list.
func (d *DNCList) Len() int { return len(d.m) }
