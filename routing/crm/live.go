package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// LiveConfig configures the live CRM lookup.
type LiveConfig struct {
	// URLTemplate is the CRM's customer URL with "{number}" where the
	// canonical number goes, e.g. "https://crm.example/api/customers/{number}".
	URLTemplate string
	// AuthHeader and AuthValue are sent with every request when set, e.g.
	// "Authorization", "Bearer …".
	AuthHeader string
	AuthValue  string
	// Timeout bounds one request (default 250 ms); the caller's context may
	// cut it shorter.
	Timeout time.Duration
	// FailureThreshold and CoolDown configure the circuit breaker
	// (defaults 5 and 10 s).
	FailureThreshold int
	CoolDown         time.Duration
	// Cache, when set, receives every customer the live CRM returns, so the
	// next call from that number is a store hit (until the next full reload).
	Cache Store
	// NotFoundTTL, when positive, remembers numbers the CRM does not know for
	// that long, so a hotline whose callers are mostly not customers does
	// not ask the CRM on every call. At most NotFoundMax numbers are kept
	// (default 100000); beyond that the memory is dropped and rebuilt.
	NotFoundTTL time.Duration
	NotFoundMax int
	// Tiers, when set, is the allowed tier set; an answer with another tier
	// is an error.
	Tiers  []string
	Plan   NumberPlan
	Client *http.Client // default: a client with no overall timeout
	Logger *slog.Logger
}

// Live looks customers up directly in the CRM over HTTP. The CRM answers
// 200 with a JSON customer object (fields as in the pull importer) or 404 for
// an unknown number; anything else is a failure that counts towards the
// breaker.
type Live struct {
	cfg     LiveConfig
	tiers   map[string]string
	breaker *Breaker
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	notFound map[string]time.Time // canonical number → forget after
}

var _ Lookup = (*Live)(nil)

// NewLive checks cfg and returns a live lookup.
func NewLive(cfg LiveConfig) (*Live, error) {
	if !strings.Contains(cfg.URLTemplate, "{number}") {
		return nil, fmt.Errorf("crm: live lookup: URL template %q has no {number}", cfg.URLTemplate)
	}
	if _, err := url.Parse(strings.ReplaceAll(cfg.URLTemplate, "{number}", "1")); err != nil {
		return nil, fmt.Errorf("crm: live lookup: URL template: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 250 * time.Millisecond
	}
	cfg.Plan = cfg.Plan.withDefaults()
	if cfg.NotFoundMax <= 0 {
		cfg.NotFoundMax = 100000
	}
	l := &Live{cfg: cfg, breaker: NewBreaker(cfg.FailureThreshold, cfg.CoolDown), client: cfg.Client, log: cfg.Logger, now: time.Now}
	if l.client == nil {
		l.client = &http.Client{}
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if len(cfg.Tiers) > 0 {
		l.tiers = make(map[string]string, len(cfg.Tiers))
		for _, t := range cfg.Tiers {
			l.tiers[strings.ToLower(t)] = t
		}
	}
	return l, nil
}

// Breaker exposes the circuit breaker, for health reporting.
func (l *Live) Breaker() *Breaker { return l.breaker }

// Lookup implements Lookup. It returns ErrNotFound for numbers the CRM does
// not know and ErrBreakerOpen without any request while the breaker is open.
func (l *Live) Lookup(ctx context.Context, number string) (Customer, error) {
	canon, err := l.cfg.Plan.Normalise(number)
	if err != nil {
		return Customer{}, err
	}
	if l.knownUnknown(canon) {
		return Customer{}, ErrNotFound
	}
	if err := l.breaker.Allow(); err != nil {
		return Customer{}, err
	}
	c, err := l.fetch(ctx, canon)
	if err != nil && !errors.Is(err, ErrNotFound) {
		if l.breaker.Failure() {
			l.log.Error("crm: live lookup circuit breaker opened", "cool_down", l.breaker.coolDown, "err", err)
		}
		return Customer{}, fmt.Errorf("crm: live lookup %s: %w", canon, err)
	}
	if l.breaker.Success() {
		l.log.Info("crm: live lookup circuit breaker closed")
	}
	if err != nil {
		l.rememberUnknown(canon)
		return Customer{}, err
	}
	if l.cfg.Cache != nil {
		if err := l.cfg.Cache.Put(ctx, c); err != nil {
			l.log.Warn("crm: caching live lookup result", "number", canon, "err", err)
		}
	}
	return c, nil
}

func (l *Live) knownUnknown(canon string) bool {
	if l.cfg.NotFoundTTL <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.notFound[canon]
	if ok && l.now().After(until) {
		delete(l.notFound, canon)
		return false
	}
	return ok
}

func (l *Live) rememberUnknown(canon string) {
	if l.cfg.NotFoundTTL <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.notFound == nil || len(l.notFound) >= l.cfg.NotFoundMax {
		l.notFound = make(map[string]time.Time)
	}
	l.notFound[canon] = l.now().Add(l.cfg.NotFoundTTL)
}

func (l *Live) fetch(ctx context.Context, canon string) (Customer, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	// "+44…" must survive a query string, where '+' reads as a space.
	escape := url.PathEscape
	if q := strings.IndexByte(l.cfg.URLTemplate, '?'); q >= 0 && q < strings.Index(l.cfg.URLTemplate, "{number}") {
		escape = url.QueryEscape
	}
	u := strings.ReplaceAll(l.cfg.URLTemplate, "{number}", escape(canon))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Customer{}, err
	}
	req.Header.Set("Accept", "application/json")
	if l.cfg.AuthHeader != "" {
		req.Header.Set(l.cfg.AuthHeader, l.cfg.AuthValue)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return Customer{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return Customer{}, ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return Customer{}, fmt.Errorf("CRM answered %s", resp.Status)
	}
	var jc jsonCustomer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&jc); err != nil {
		return Customer{}, fmt.Errorf("decoding CRM answer: %w", err)
	}
	if jc.Number != "" {
		n, err := l.cfg.Plan.Normalise(string(jc.Number))
		if err != nil || n != canon {
			return Customer{}, fmt.Errorf("CRM answered for number %q", jc.Number)
		}
	}
	blacklisted, ok := parseBlacklisted(string(jc.Blacklisted))
	if !ok {
		return Customer{}, fmt.Errorf("CRM answered blacklisted %q", jc.Blacklisted)
	}
	c := Customer{ID: strings.TrimSpace(string(jc.ID)), Number: canon, Name: jc.Name, Tier: strings.TrimSpace(jc.Tier),
		Region: jc.Region, Blacklisted: blacklisted, Attributes: jc.Attributes, Source: SourceLive}
	if c.Tier == "" {
		c.Tier = DefaultTier
	}
	if l.tiers != nil {
		t, ok := l.tiers[strings.ToLower(c.Tier)]
		if !ok {
			return Customer{}, fmt.Errorf("CRM answered unknown tier %q", jc.Tier)
		}
		c.Tier = t
	}
	if c.ID == "" {
		c.ID = canon
	}
	return c, nil
}

// jsonCustomer is a customer as the CRM's JSON API writes it. Number, ID and
// blacklisted take strings or bare JSON values, since CRM exports differ; a
// bad value rejects the one record, not the page.
type jsonCustomer struct {
	ID          flexString        `json:"id"`
	Number      flexString        `json:"number"`
	Name        string            `json:"name"`
	Tier        string            `json:"tier"`
	Region      string            `json:"region"`
	Blacklisted flexString        `json:"blacklisted"`
	Attributes  map[string]string `json:"attributes"`
}

func (jc jsonCustomer) raw() rawCustomer {
	return rawCustomer{number: string(jc.Number), id: string(jc.ID), name: jc.Name, tier: jc.Tier,
		region: jc.Region, blacklisted: string(jc.Blacklisted), attrs: jc.Attributes}
}

// flexString holds a JSON string, or the text of any other JSON scalar
// (13800000001, true); null is empty.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if s := string(b); s != "null" {
		if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
			return fmt.Errorf("want a scalar, got %.20s", s)
		}
		*f = flexString(s)
	}
	return nil
}
