// Package browsertest drives a real headless Chromium (Debian package
// chromium) over the DevTools protocol, for tests of the embedded desktop
// page: navigate, run JavaScript, wait for what a person would see.
package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Page is one Chromium tab under test.
type Page struct {
	t    testing.TB
	conn *websocket.Conn
	mu   sync.Mutex
	seq  int
	wait map[int]chan json.RawMessage
	errs []string // page exceptions
	// responses are the HTTP responses the page received (Network events).
	responses []Response
}

// Response is one HTTP response the page received.
type Response struct {
	URL    string
	Status int
	Type   string // Document, Media, XHR, Fetch, WebSocket…
}

func Chromium(t testing.TB) *Page {
	t.Helper()
	return ChromiumWith(t)
}

// ChromiumWith starts Chromium with extra command-line flags (e.g. fake
// media devices for the browser phone).
func ChromiumWith(t testing.TB, flags ...string) *Page {
	t.Helper()
	bin := os.Getenv("HOTLINE_CHROMIUM")
	if bin == "" {
		bin = "chromium"
	}
	profile, err := os.MkdirTemp("", "hotline-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--autoplay-policy=no-user-gesture-required",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=" + profile}
	args = append(append(args, flags...), "about:blank")
	cmd := exec.CommandContext(ctx, bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = os.RemoveAll(profile) // best effort: helper processes may still be exiting
	})
	re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(20 * time.Second):
		t.Fatal("chromium did not start")
	}
	// The page target of about:blank.
	host := strings.SplitN(strings.TrimPrefix(browserURL, "ws://"), "/", 2)[0]
	var pageURL string
	for deadline := time.Now().Add(10 * time.Second); pageURL == "" && time.Now().Before(deadline); {
		resp, err := http.Get("http://" + host + "/json/list")
		if err == nil {
			var targets []struct{ Type, WebSocketDebuggerURL string }
			_ = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" {
					pageURL = tg.WebSocketDebuggerURL
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pageURL == "" {
		t.Fatal("no chromium page target")
	}
	conn, _, err := websocket.Dial(ctx, pageURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 24)
	c := &Page{t: t, conn: conn, wait: map[int]chan json.RawMessage{}}
	go c.read()
	c.Call("Runtime.enable", nil)
	c.Call("Page.enable", nil)
	c.Call("Log.enable", nil)
	c.Call("Network.enable", nil)
	return c
}

// Responses returns the HTTP responses the page has received so far.
func (c *Page) Responses() []Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Response(nil), c.responses...)
}

// Viewport sets the page's size in CSS pixels (a phone below 500 px wide
// is emulated as a mobile device).
func (c *Page) Viewport(width, height int) {
	c.t.Helper()
	c.Call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
}

// Overflow reports how many CSS pixels the page is wider than its
// viewport (0: no horizontal scrolling).
func (c *Page) Overflow() int {
	c.t.Helper()
	var n int
	fmt.Sscan(c.Eval(`Math.max(0, document.documentElement.scrollWidth - window.innerWidth, document.body.scrollWidth - window.innerWidth)`), &n)
	return n
}

// ScreenshotTo saves a PNG of the viewport to path (the directory must exist).
func (c *Page) ScreenshotTo(path string) {
	c.t.Helper()
	r := c.Call("Page.captureScreenshot", map[string]any{"format": "png"})
	var out struct {
		Data []byte `json:"data"`
	}
	if err := json.Unmarshal(r, &out); err != nil || len(out.Data) == 0 {
		c.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, out.Data, 0o644); err != nil {
		c.t.Fatalf("screenshot: %v", err)
	}
}

// SetLanguages makes the browser prefer these languages (navigator.languages
// and Accept-Language), e.g. "zh-CN,zh".
func (c *Page) SetLanguages(langs string) {
	c.t.Helper()
	c.Call("Emulation.setUserAgentOverride", map[string]any{"userAgent": "Mozilla/5.0 HeadlessChrome hotline-test", "acceptLanguage": langs})
	c.Call("Emulation.setLocaleOverride", map[string]any{"locale": strings.Split(langs, ",")[0]})
}

func (c *Page) read() {
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch := c.wait[m.ID]; ch != nil {
				if m.Error != nil {
					ch <- m.Error
				} else {
					ch <- m.Result
				}
				delete(c.wait, m.ID)
			}
		} else if m.Method == "Network.responseReceived" {
			var p struct {
				Type     string `json:"type"`
				Response struct {
					URL    string `json:"url"`
					Status int    `json:"status"`
				} `json:"response"`
			}
			if json.Unmarshal(m.Params, &p) == nil {
				c.responses = append(c.responses, Response{URL: p.Response.URL, Status: p.Response.Status, Type: p.Type})
			}
		} else if m.Method == "Runtime.exceptionThrown" {
			c.errs = append(c.errs, string(m.Params))
		} else if m.Method == "Log.entryAdded" && strings.Contains(string(m.Params), `"level":"error"`) &&
			!strings.Contains(string(m.Params), "favicon") {
			// CSP violations and failed loads land here.
			c.errs = append(c.errs, string(m.Params))
		}
		c.mu.Unlock()
	}
}

func (c *Page) Call(method string, params any) json.RawMessage {
	c.t.Helper()
	c.mu.Lock()
	c.seq++
	id := c.seq
	ch := make(chan json.RawMessage, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("cdp %s: %v", method, err)
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		c.t.Fatalf("cdp %s: no answer", method)
		return nil
	}
}

// Eval runs JS in the page and returns its value as a string.
func (c *Page) Eval(js string) string {
	c.t.Helper()
	r := c.Call("Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true, "awaitPromise": true})
	var out struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	_ = json.Unmarshal(r, &out)
	if out.ExceptionDetails != nil {
		c.t.Fatalf("eval %s: %v", js, out.ExceptionDetails)
	}
	return fmt.Sprint(out.Result.Value)
}

// Shot saves a screenshot when HOTLINE_SCREENSHOTS names a directory
// (for looking at the page, not for asserting on it).
func (c *Page) Shot(name string) {
	dir := os.Getenv("HOTLINE_SCREENSHOTS")
	if dir == "" {
		return
	}
	r := c.Call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	var out struct {
		Data []byte `json:"data"`
	}
	if err := json.Unmarshal(r, &out); err != nil {
		c.t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(dir+"/"+name+".png", out.Data, 0o644); err != nil {
		c.t.Errorf("screenshot: %v", err)
	}
}

// Until polls a JS condition.
func (c *Page) Until(what, js string) {
	c.t.Helper()
	c.UntilWithin(10*time.Second, what, js)
}

// UntilWithin is Until with its own time limit.
func (c *Page) UntilWithin(limit time.Duration, what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	guarded := "(() => { try { return !!(" + js + ") } catch (e) { return false } })()"
	for c.Eval(guarded) != "true" {
		if time.Now().After(deadline) {
			c.t.Fatalf("page never showed %s (%s)", what, js)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Navigate opens url in the tab.
func (c *Page) Navigate(url string) { c.Call("Page.navigate", map[string]string{"url": url}) }

// Errors returns the page's uncaught exceptions and console errors so far.
func (c *Page) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}
