package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PullConfig configures the scheduled HTTP JSON pull from the CRM.
type PullConfig struct {
	// URLTemplate is the CRM's paged customer list with "{page}" where the
	// page number goes, e.g. "https://crm.example/api/customers?page={page}&size=5000".
	// Each page is a JSON array of customer objects, or an object whose
	// "customers" field is that array; an empty page ends the pull.
	// Customer objects: {"number","id","name","tier","region","blacklisted","attributes"}.
	URLTemplate string
	FirstPage   int // default 1
	// AuthHeader and AuthValue are sent with every request when set.
	AuthHeader string
	AuthValue  string
	// Timeout bounds each page request (default 10 s).
	Timeout time.Duration
	// Interval between refreshes in Run (default 15 min).
	Interval time.Duration
	// MaxPages guards against a CRM that never returns an empty page
	// (default 100000).
	MaxPages int
	Client   *http.Client
	// OnPull, when set, is called after every pull Run makes.
	OnPull func(Report, error)
}

// Puller refreshes the whole store from the CRM's paged JSON API.
type Puller struct {
	im     *Importer
	cfg    PullConfig
	client *http.Client
}

// NewPuller checks cfg and returns a puller loading through im (which holds
// the store, number plan and allowed tiers).
func NewPuller(im *Importer, cfg PullConfig) (*Puller, error) {
	if im == nil {
		return nil, errors.New("crm: pull: nil importer")
	}
	if !strings.Contains(cfg.URLTemplate, "{page}") {
		return nil, fmt.Errorf("crm: pull: URL template %q has no {page}", cfg.URLTemplate)
	}
	if _, err := url.Parse(strings.ReplaceAll(cfg.URLTemplate, "{page}", "1")); err != nil {
		return nil, fmt.Errorf("crm: pull: URL template: %w", err)
	}
	if cfg.FirstPage == 0 {
		cfg.FirstPage = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Minute
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 100000
	}
	p := &Puller{im: im, cfg: cfg, client: cfg.Client}
	if p.client == nil {
		p.client = &http.Client{}
	}
	return p, nil
}

var errNoCustomers = errors.New("CRM returned no customers; previous customer set kept")

// Pull fetches every page and replaces the store's customers with the good
// ones. Bad records are reported (Reject.Page/Line) and skipped. Any failed
// page, or an empty result, keeps the previous customer set.
func (p *Puller) Pull(ctx context.Context) (Report, error) {
	start := time.Now()
	source := strings.ReplaceAll(p.cfg.URLTemplate, "{page}", "*")
	b := p.im.newBatch(source, FullLoad)
	err := p.im.replace(ctx, b, func(yield func(Customer, error) bool) {
		for page := p.cfg.FirstPage; ; page++ {
			items, err := p.fetchPage(ctx, page)
			if err != nil {
				yield(Customer{}, fmt.Errorf("page %d: %w", page, err))
				return
			}
			if len(items) == 0 {
				break
			}
			if page-p.cfg.FirstPage >= p.cfg.MaxPages {
				yield(Customer{}, fmt.Errorf("more than %d pages", p.cfg.MaxPages))
				return
			}
			if len(items) >= 1<<20 {
				yield(Customer{}, fmt.Errorf("page %d: %d customers, at most %d per page", page, len(items), 1<<20-1))
				return
			}
			for i, jc := range items {
				if c, ok := b.accept(jc.raw(), i+1, page, true); ok && !yield(c, nil) {
					return
				}
			}
		}
		if b.report.Rows == 0 {
			yield(Customer{}, errNoCustomers)
		}
	})
	b.report.Duration = time.Since(start)
	if err != nil {
		return b.report, fmt.Errorf("crm: pull %s: %w", source, err)
	}
	p.im.log.Info("crm pull done", "source", source, "rows", b.report.Rows, "loaded", b.report.Loaded,
		"rejected", b.report.RejectedCount, "duration", b.report.Duration)
	return b.report, nil
}

func (p *Puller) fetchPage(ctx context.Context, page int) ([]jsonCustomer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	u := strings.ReplaceAll(p.cfg.URLTemplate, "{page}", strconv.Itoa(page))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if p.cfg.AuthHeader != "" {
		req.Header.Set(p.cfg.AuthHeader, p.cfg.AuthValue)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CRM answered %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading CRM answer: %w", err)
	}
	body = bytes.TrimSpace(body)
	var items []jsonCustomer
	if len(body) > 0 && body[0] == '{' {
		var wrapped struct {
			Customers []jsonCustomer `json:"customers"`
		}
		err = json.Unmarshal(body, &wrapped)
		items = wrapped.Customers
	} else {
		err = json.Unmarshal(body, &items)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding CRM answer: %w", err)
	}
	return items, nil
}

// Run pulls now and then every Interval until ctx ends. A failed pull is
// logged and retried at the next interval; the store keeps its last good set.
func (p *Puller) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		rep, err := p.Pull(ctx)
		if err != nil && ctx.Err() == nil {
			p.im.log.Error("crm pull failed; keeping the previous customer set", "err", err)
		}
		if p.cfg.OnPull != nil {
			p.cfg.OnPull(rep, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
