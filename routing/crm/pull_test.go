package crm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCRMPages serves pages[page-1] for ?page=N (an empty list beyond the
// end), checks the token, and lets a test break a page.
type fakeCRMPages struct {
	mu       sync.Mutex
	pages    []string
	failPage int
	slowPage int
	pulls    int // requests for page 1
}

func (f *fakeCRMPages) set(pages ...string) {
	f.mu.Lock()
	f.pages = pages
	f.mu.Unlock()
}

func (f *fakeCRMPages) server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "k1" {
			http.Error(w, "bad key", http.StatusForbidden)
			return
		}
		page, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil || page < 1 {
			http.Error(w, "bad page", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if page == 1 {
			f.pulls++
		}
		fail, slow := page == f.failPage, page == f.slowPage
		body := "[]"
		if page <= len(f.pages) {
			body = f.pages[page-1]
		}
		f.mu.Unlock()
		switch {
		case fail:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case slow:
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestPuller(t *testing.T, srv *httptest.Server, store Store, cfg PullConfig) *Puller {
	t.Helper()
	cfg.URLTemplate = srv.URL + "/api/customers?page={page}&size=3"
	cfg.AuthHeader, cfg.AuthValue = "X-Api-Key", "k1"
	p, err := NewPuller(newTestImporter(t, store), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPullPagesRejectsBadRecords(t *testing.T) {
	ctx := context.Background()
	crm := &fakeCRMPages{}
	crm.set(
		`[{"number":"13800000001","name":"Demo Diamond","tier":"diamond","region":"north","blacklisted":false},
		  {"number":13800000002,"id":"C2","name":"Demo Gold","tier":"gold","region":"north","attributes":{"segment":"sme"}},
		  {"number":"13800000003","name":"Bad Tier","tier":"bronze"}]`,
		`{"customers":[{"number":"+8613800000001","name":"Duplicate","tier":"gold"},
		  {"number":"13800000009","name":"Demo Blocked","tier":"normal","region":"south","blacklisted":"yes"},
		  {"number":"call me","name":"Malformed","tier":"gold"}]}`,
		`[{"number":"13800000004","name":"Bad Flag","tier":"gold","blacklisted":"perhaps"}]`,
	)
	store := NewMemStore()
	rep, err := newTestPuller(t, crm.server(t), store, PullConfig{}).Pull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type rej struct {
		page, item int
		reason     RejectReason
	}
	var got []rej
	for _, r := range rep.Rejects {
		got = append(got, rej{r.Page, r.Line, r.Reason})
	}
	want := []rej{{1, 3, RejectBadTier}, {2, 1, RejectDuplicateNumber}, {2, 3, RejectMalformedNumber}, {3, 1, RejectBadBlacklisted}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rejects = %v, want %v", got, want)
	}
	if rep.Rows != 7 || rep.Loaded != 3 {
		t.Fatalf("rows %d loaded %d", rep.Rows, rep.Loaded)
	}
	c, err := store.Get(ctx, "13800000002")
	if err != nil || c.ID != "C2" || c.Tier != "gold" || c.Attributes["segment"] != "sme" {
		t.Fatalf("13800000002: %+v, %v", c, err)
	}
	c, err = store.Get(ctx, "13800000009")
	if err != nil || !c.Blacklisted || c.Region != "south" {
		t.Fatalf("13800000009: %+v, %v", c, err)
	}
	if d := rep.Rejects[1].Detail; !strings.Contains(d, "page 1 item 1") {
		t.Fatalf("duplicate detail %q does not point at the first record", d)
	}
	if c, _ := store.Get(ctx, "13800000001"); c.Name != "Demo Diamond" {
		t.Fatalf("duplicate replaced the first record: %+v", c)
	}
}

func TestPullFailureKeepsPreviousSet(t *testing.T) {
	ctx := context.Background()
	good := `[{"number":"13800000001","tier":"gold"}]`
	tests := []struct {
		name   string
		setup  func(*fakeCRMPages)
		cfg    PullConfig
		badKey bool
	}{
		{name: "page fails mid-way", setup: func(f *fakeCRMPages) { f.set(good, good); f.failPage = 2 }},
		{name: "page too slow", setup: func(f *fakeCRMPages) { f.set(good); f.slowPage = 2 }, cfg: PullConfig{Timeout: 50 * time.Millisecond}},
		{name: "CRM returns nothing", setup: func(f *fakeCRMPages) { f.set() }},
		{name: "every record bad", setup: func(f *fakeCRMPages) { f.set(`[{"number":"x","tier":"gold"}]`) }},
		{name: "not JSON", setup: func(f *fakeCRMPages) { f.set(`<html>`) }},
		{name: "wrong key", setup: func(f *fakeCRMPages) { f.set(good) }, badKey: true},
		{name: "never-ending pages", setup: func(f *fakeCRMPages) { f.set(good, good, good) }, cfg: PullConfig{MaxPages: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crm := &fakeCRMPages{}
			tt.setup(crm)
			store := NewMemStore()
			_ = store.Put(ctx, Customer{Number: "13800000005", Tier: "silver"})
			p := newTestPuller(t, crm.server(t), store, tt.cfg)
			if tt.badKey {
				p.cfg.AuthValue = "wrong"
			}
			if _, err := p.Pull(ctx); err == nil {
				t.Fatal("pull succeeded")
			}
			if n, _ := store.Len(ctx); n != 1 {
				t.Fatalf("store holds %d customers, want the previous 1", n)
			}
		})
	}
	// MaxPages counts pages with customers; the closing empty page is free.
	crm := &fakeCRMPages{}
	crm.set(good, `[{"number":"13800000002","tier":"gold"}]`)
	if rep, err := newTestPuller(t, crm.server(t), NewMemStore(), PullConfig{MaxPages: 2}).Pull(ctx); err != nil || rep.Loaded != 2 {
		t.Fatalf("two pages with MaxPages 2: %+v, %v", rep, err)
	}
	if _, err := NewPuller(newTestImporter(t, NewMemStore()), PullConfig{URLTemplate: "http://127.0.0.1/customers"}); err == nil {
		t.Fatal("URL template without {page} accepted")
	}
}

func TestPullRunRefreshes(t *testing.T) {
	crm := &fakeCRMPages{}
	crm.set(`[{"number":"13800000002","tier":"gold"}]`)
	store := NewMemStore()
	pulled := make(chan Report, 100)
	p := newTestPuller(t, crm.server(t), store, PullConfig{Interval: 10 * time.Millisecond,
		OnPull: func(r Report, err error) {
			if err == nil {
				select {
				case pulled <- r:
				default: // the test has what it needs
				}
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}()
	<-pulled
	if c, err := store.Get(ctx, "13800000002"); err != nil || c.Tier != "gold" {
		t.Fatalf("after first pull: %+v, %v", c, err)
	}
	// The CRM upgrades the customer; a later scheduled pull brings it in.
	crm.set(`[{"number":"13800000002","tier":"diamond"}]`)
	giveUp := time.After(30 * time.Second)
	for {
		select {
		case <-pulled:
		case <-giveUp:
			t.Fatal("no scheduled pull picked up the CRM change")
		}
		if c, err := store.Get(ctx, "13800000002"); err == nil && c.Tier == "diamond" {
			return
		}
	}
}
