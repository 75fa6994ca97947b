package recording

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// httpFixture records a few calls on two days and returns the root.
func httpFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	calls := []struct {
		id, agent, queue, caller string
		day                      int
	}{
		{"c1", "1001", "sales", "+861111", 21},
		{"c2", "1002", "sales", "+862222", 21},
		{"c3", "1001", "support", "+861111", 21},
		{"c4", "1001", "sales", "+861111", 20},
	}
	for _, c := range calls {
		clk := newFakeClock()
		clk.t = time.Date(2026, 11, c.day, 10, 0, 0, 0, time.UTC)
		tier := "gold"
		if c.id == "c3" {
			tier = "diamond"
		}
		rec, err := Open(root, Meta{CallID: c.id, Agent: c.agent, Queue: c.queue, Caller: c.caller, Tier: tier}, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 25; i++ {
			rec.Feed(Caller, toneFrame(callerHz, i*frameSamples))
			clk.Advance(frameDur)
		}
		if _, err := rec.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Something worth stealing just outside the root.
	if err := os.WriteFile(filepath.Join(filepath.Dir(root), "secret.wav"), []byte("RIFF secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

// testAuth: "sup" sees the sales queue, "admin" everything, "agent" is
// not allowed, no user is unauthenticated.
func testAuth(r *http.Request) (Scope, error) {
	switch r.Header.Get("X-User") {
	case "admin":
		return func(Meta) bool { return true }, nil
	case "sup":
		return func(m Meta) bool { return m.Queue == "sales" }, nil
	case "":
		return nil, fmt.Errorf("no token: %w", ErrUnauthenticated)
	default:
		return nil, fmt.Errorf("agents may not fetch recordings")
	}
}

func doGet(h http.Handler, user, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return rr
}

func TestHTTPListing(t *testing.T) {
	h := NewHandler(httpFixture(t), "/recordings/", testAuth, nil)
	tests := []struct {
		name, user, query string
		want              []string
	}{
		{"one day", "admin", "date=2026-11-21", []string{"c1", "c2", "c3"}},
		{"all days", "admin", "", []string{"c1", "c2", "c3", "c4"}},
		{"by agent", "admin", "date=2026-11-21&agent=1001", []string{"c1", "c3"}},
		{"by queue", "admin", "queue=sales", []string{"c1", "c2", "c4"}},
		{"by caller", "admin", "caller=%2B862222", []string{"c2"}},
		{"by tier", "admin", "tier=diamond", []string{"c3"}},
		{"scope hides other queues", "sup", "date=2026-11-21", []string{"c1", "c2"}},
		{"empty day", "admin", "date=2026-01-01", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := doGet(h, tc.user, "/recordings/?"+tc.query, nil)
			if rr.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rr.Code, rr.Body)
			}
			var l Listing
			if err := json.Unmarshal(rr.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range l.Recordings {
				got = append(got, m.CallID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHTTPDownload(t *testing.T) {
	root := httpFixture(t)
	h := NewHandler(root, "/recordings/", testAuth, nil)
	file := mustRead(t, filepath.Join(root, "2026", "11", "21", "c1.wav"))

	rr := doGet(h, "sup", "/recordings/c1.wav", nil)
	if rr.Code != http.StatusOK || !slices.Equal(rr.Body.Bytes(), file) || rr.Header().Get("Accept-Ranges") != "bytes" {
		t.Fatalf("full download: %d, %d bytes (want %d), Accept-Ranges %q", rr.Code, rr.Body.Len(), len(file), rr.Header().Get("Accept-Ranges"))
	}
	rr = doGet(h, "sup", "/recordings/c1.wav", map[string]string{"Range": "bytes=100-199"})
	if rr.Code != http.StatusPartialContent || !slices.Equal(rr.Body.Bytes(), file[100:200]) {
		t.Errorf("range: %d, %d bytes, want 206 with bytes 100-199", rr.Code, rr.Body.Len())
	}
	if cr := rr.Header().Get("Content-Range"); cr != fmt.Sprintf("bytes 100-199/%d", len(file)) {
		t.Errorf("Content-Range %q", cr)
	}
	rr = doGet(h, "sup", "/recordings/c1.json", nil)
	var m Meta
	if rr.Code != http.StatusOK || json.Unmarshal(rr.Body.Bytes(), &m) != nil || m.CallID != "c1" || m.State != StateComplete {
		t.Errorf("sidecar: %d %s", rr.Code, rr.Body)
	}
}

func TestHTTPRefusals(t *testing.T) {
	h := NewHandler(httpFixture(t), "/recordings/", testAuth, nil)
	tests := []struct {
		name, user, target string
		want               []int
	}{
		{"no credentials", "", "/recordings/c1.wav", []int{http.StatusUnauthorized}},
		{"no credentials listing", "", "/recordings/", []int{http.StatusUnauthorized}},
		{"role not allowed", "agent", "/recordings/c1.wav", []int{http.StatusForbidden}},
		{"other queue's recording", "sup", "/recordings/c3.wav", []int{http.StatusNotFound}},
		{"other queue's sidecar", "sup", "/recordings/c3.json", []int{http.StatusNotFound}},
		{"unknown id", "admin", "/recordings/nope.wav", []int{http.StatusNotFound}},
		{"dot-dot", "admin", "/recordings/../secret.wav", []int{400, 403, 404}},
		{"encoded dot-dot slash", "admin", "/recordings/..%2fsecret.wav", []int{400, 403, 404}},
		{"fully encoded", "admin", "/recordings/%2e%2e%2fsecret.wav", []int{400, 403, 404}},
		{"backslash", "admin", "/recordings/..%5csecret.wav", []int{400, 403, 404}},
		{"day path", "admin", "/recordings/2026/11/21/c1.wav", []int{400, 403, 404}},
		{"bad id characters", "admin", "/recordings/a;b.wav", []int{http.StatusBadRequest}},
		{"wrong extension", "admin", "/recordings/c1.txt", []int{http.StatusBadRequest}},
		{"hidden name", "admin", "/recordings/.c1.wav", []int{http.StatusBadRequest}},
		{"bad date", "admin", "/recordings/?date=../../etc", []int{http.StatusBadRequest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := doGet(h, tc.user, tc.target, nil)
			if !slices.Contains(tc.want, rr.Code) {
				t.Errorf("%s → %d, want one of %v", tc.target, rr.Code, tc.want)
			}
			if strings.Contains(rr.Body.String(), "RIFF secret") {
				t.Error("served a file outside the root")
			}
		})
	}
	req := httptest.NewRequest(http.MethodDelete, "/recordings/c1.wav", nil)
	req.Header.Set("X-User", "admin")
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE → %d, want 405", rr.Code)
	}
	if rr := doGet(NewHandler(t.TempDir(), "/recordings/", nil, nil), "admin", "/recordings/", nil); rr.Code != http.StatusForbidden {
		t.Errorf("nil authorizer → %d, want 403", rr.Code)
	}
}

// TestHTTPOverRealServer checks the handler behind a real listener, where
// the client and net/http clean or keep paths as browsers would.
func TestHTTPOverRealServer(t *testing.T) {
	root := httpFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/recordings/", NewHandler(root, "/recordings/", testAuth, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, target := range []string{"/recordings/..%2f..%2fsecret.wav", "/recordings/%2e%2e/secret.wav"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+target, nil)
		req.Header.Set("X-User", "admin")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "RIFF secret") ||
			(resp.StatusCode == http.StatusOK && resp.Request.URL.Path != "/recordings/") {
			t.Errorf("%s → %d at %s", target, resp.StatusCode, resp.Request.URL.Path)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/recordings/c1.wav", nil)
	req.Header.Set("X-User", "admin")
	req.Header.Set("Range", "bytes=0-43")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || resp.ContentLength != headerSize {
		t.Errorf("range over the wire: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
}
