// The desktop page in real headless Chromium, driven over the DevTools
// protocol: go test -run Browser ./agentapi. It needs the Debian chromium
// package, which the test suite installs; HOTLINE_CHROMIUM overrides the path.

package agentapi

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

	"github.com/hotlinecc/hotline/acd"
)

type cdp struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex
	seq  int
	wait map[int]chan json.RawMessage
	errs []string // page exceptions
}

func startChromium(t *testing.T) *cdp {
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
	cmd := exec.CommandContext(ctx, bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir="+profile, "about:blank")
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
	c := &cdp{t: t, conn: conn, wait: map[int]chan json.RawMessage{}}
	go c.read()
	c.call("Runtime.enable", nil)
	c.call("Page.enable", nil)
	c.call("Log.enable", nil)
	return c
}

func (c *cdp) read() {
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

func (c *cdp) call(method string, params any) json.RawMessage {
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

// eval runs JS in the page and returns its value as a string.
func (c *cdp) eval(js string) string {
	c.t.Helper()
	r := c.call("Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true, "awaitPromise": true})
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

// shot saves a screenshot when HOTLINE_SCREENSHOTS names a directory
// (for looking at the page, not for asserting on it).
func (c *cdp) shot(name string) {
	dir := os.Getenv("HOTLINE_SCREENSHOTS")
	if dir == "" {
		return
	}
	r := c.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
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

// until polls a JS condition.
func (c *cdp) until(what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	guarded := "(() => { try { return !!(" + js + ") } catch (e) { return false } })()"
	for c.eval(guarded) != "true" {
		if time.Now().After(deadline) {
			c.t.Fatalf("page never showed %s (%s); log: %s", what, js, c.eval(`document.getElementById("log").innerText`))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrowserDesktop(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StatsEvery = 100 * time.Millisecond })
	b := startChromium(t)
	b.call("Page.navigate", map[string]string{"url": e.ts.URL + "/"})
	b.until("login form, connected", `!document.getElementById("login-view").hidden && document.getElementById("conn").textContent === "online"`)

	login := func(id string) {
		b.eval(fmt.Sprintf(`document.getElementById("login-agent").value = %q;
			document.getElementById("login-password").value = "pass%s";
			document.getElementById("login-form").requestSubmit(); true`, id, id))
	}
	login("1001")
	b.until("agent view", `!document.getElementById("agent-view").hidden`)
	b.until("ready state", `document.getElementById("state").textContent === "ready"`)

	// State buttons with reason codes.
	b.eval(`document.getElementById("nr-reason").value = "meeting"; document.querySelector('[data-state="not_ready"]').click(); true`)
	eventually(t, "agent not ready", func() bool { s, _ := e.acd.Agent("1001"); return s.State == acd.NotReady && s.Reason == "meeting" })
	b.until("not-ready shown", `document.getElementById("state").textContent === "not-ready"`)
	b.eval(`document.querySelector('[data-state="ready"]').click(); true`)
	eventually(t, "agent ready", func() bool { return e.state(t, "1001") == acd.Ready })

	// A call pops the card with customer record, tier and IVR trace.
	e.enqueue(t, "c1", "billing", "diamond")
	b.until("call card", `!document.getElementById("call-card").hidden`)
	b.until("customer", `document.getElementById("customer").innerText.includes("Demo Diamond")`)
	b.until("tier", `document.getElementById("call-info").innerText.includes("diamond")`)
	b.until("trace", `document.querySelectorAll("#trace li").length === 3`)
	if got := b.eval(`traceText({at: "2026-01-01T10:00:00Z", flow: "main", node: "menu", event: "choice", digits: "1", detail: {queue: "billing"}})`); !strings.Contains(got, "main/menu choice [1] queue=billing") {
		t.Errorf("IVR trace entry rendered as %q", got)
	}
	b.shot("desktop-call")

	// Hold, DTMF, hang up, wrap-up code.
	b.eval(`document.getElementById("hold").click(); true`)
	eventually(t, "held", func() bool { return e.state(t, "1001") == acd.Held })
	b.until("unhold label", `document.getElementById("hold").textContent === "Unhold"`)
	b.eval(`document.getElementById("hold").click(); true`)
	eventually(t, "retrieved", func() bool { return e.state(t, "1001") == acd.Talking })
	b.eval(`[...document.querySelectorAll("#dtmf-pad button")].find(b => b.textContent === "5").click(); true`)
	eventually(t, "dtmf", func() bool { return e.calls.has("dtmf 1001 c1 5") })
	b.eval(`document.getElementById("hangup").click(); true`)
	b.until("wrap-up card", `!document.getElementById("wrap-card").hidden`)
	b.until("call card gone", `document.getElementById("call-card").hidden`)
	b.eval(`document.getElementById("dispo").value = "callback"; document.getElementById("wrap-end").click(); true`)
	eventually(t, "ready after wrap-up", func() bool { return e.state(t, "1001") == acd.Ready })
	if !e.calls.has("disposition 1001 c1 callback") {
		t.Errorf("disposition not stored: %v", e.calls.opsLog())
	}

	// Reload: the page resumes the same session.
	b.call("Page.reload", nil)
	b.until("resumed", `!document.getElementById("agent-view").hidden && document.getElementById("state").textContent === "ready"`)
	b.until("connected", `document.getElementById("conn").textContent === "online"`)

	// Supervisor view on the same page.
	b.eval(`document.getElementById("logout").click(); true`)
	b.until("login again", `!document.getElementById("login-view").hidden`)

	// Forced sign-out by a supervisor sends the desktop back to sign-in.
	login("1001")
	b.until("agent view again", `!document.getElementById("agent-view").hidden`)
	sup := e.dial(t)
	sup.must("login", "agent", "9100", "password", "pass9100")
	sup.must("force_sign_out", "agent", "1001")
	b.until("signed out", `!document.getElementById("login-view").hidden && document.getElementById("alerts").innerText.includes("signed out")`)
	_ = e.acd.Login(acd.AgentProfile{ID: "1002", Skills: map[string]int{"technical": 1}})
	login("9001")
	b.until("wallboard", `!document.getElementById("sup-view").hidden`)
	b.until("seat map", `document.getElementById("seats").innerText.includes("1002")`)
	b.until("service levels", `document.getElementById("sl").innerText.includes("diamond")`)
	b.eval(`document.querySelector('[aria-label="Not ready agent 1002"]').click(); true`)
	eventually(t, "forced not ready", func() bool { return e.state(t, "1002") == acd.NotReady })
	b.until("seat map updated", `document.getElementById("seats").innerText.includes("not-ready")`)
	b.shot("wallboard")
	// A seat that signs in later appears with its name.
	_ = e.acd.Login(acd.AgentProfile{ID: "1003", Skills: map[string]int{"general": 1}})
	b.until("new seat", `document.getElementById("seats").innerText.includes("Agent 1003")`)
	// A call on 1003 shows on the seat map; the supervisor listens, then barges.
	e.enqueue(t, "g1", "general", "normal")
	b.until("call on the seat map", `document.getElementById("seats").innerText.includes("g1")`)
	b.eval(`document.querySelector('[aria-label="Listen agent 1003"]').click(); true`)
	eventually(t, "listen", func() bool { return e.calls.has("monitor 9001 1003 listen") })
	b.eval(`document.querySelector('[aria-label="Barge agent 1003"]').click(); true`)
	eventually(t, "barge", func() bool { return e.calls.has("monitor 9001 1003 barge") })
	if recs := e.audit.records(); len(recs) != 4 || recs[1].Action != "force_not_ready" || recs[1].Actor != "9001" || recs[3].Detail != "barge" {
		t.Errorf("audit = %+v", recs)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.errs {
		t.Errorf("page exception: %s", x)
	}
}
