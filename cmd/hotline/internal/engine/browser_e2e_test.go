package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi/browsertest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// readmeShots regenerates the README's screenshots (docs/agent.png and
// docs/wallboard.png, English, 1400×900):
//
//	go test ./cmd/hotline/internal/engine -run 'TestBrowserDeskAndWallboard/en' -readme-shots
var readmeShots = flag.Bool("readme-shots", false, "write the README screenshots to docs/")

// shotDir is where the screenshots of a run go (test artifacts, not
// committed): $HOTLINE_SCREENSHOTS, else a temp directory.
func shotDir(t *testing.T, lang string) string {
	t.Helper()
	base := os.Getenv("HOTLINE_SCREENSHOTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "hotline-screenshots")
	}
	dir := filepath.Join(base, lang)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shots screenshots the page at a desk and at a phone size, and fails if it
// is wider than either.
func shots(t *testing.T, b *browsertest.Page, dir, name string) {
	t.Helper()
	for _, size := range [][2]int{{1400, 900}, {390, 844}} {
		b.Viewport(size[0], size[1])
		time.Sleep(300 * time.Millisecond) // layout and fonts settle
		if n := b.Overflow(); n > 0 {
			t.Errorf("%s overflows a %d px wide screen by %d px", name, size[0], n)
		}
		b.ScreenshotTo(filepath.Join(dir, fmt.Sprintf("%s-%dx%d.png", name, size[0], size[1])))
	}
	b.Viewport(1400, 900)
}

// The embedded desktop and wallboard in real headless Chromium against the
// running engine, in English and in Chinese (the browser's language picks
// it): an agent takes a SIPp caller who called before and sees the customer
// card with that earlier call; picks the queue's wrap-up code with a note,
// which the record and `report -by wrap_up_code` then show. The supervisor
// sees the per-queue service level, the day's chart (one point per hour
// with calls per tier, as /api/reports says), lists and plays the
// recording (HTTP 206), and exports a report CSV equal to the CLI's.
func TestBrowserDeskAndWallboard(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"en", "zh-CN"} {
		t.Run(lang, func(t *testing.T) { deskAndWallboard(t, lang) })
	}
}

func deskAndWallboard(t *testing.T, lang string) {
	zh := lang == "zh-CN"
	pick := func(en, cn string) string {
		if zh {
			return cn
		}
		return en
	}
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	phone := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 2) // each call ends with the engine's BYE
	dir := shotDir(t, lang)

	// An earlier call of Demo Gold, answered by 1001's phone alone.
	first := d.dial(t, ctx, "13800000002", "10010", 10*time.Second)
	first.waitAudio(greetingFrames + 25)
	first.press('1')
	first.finished(ctx)
	firstEnd := d.end(t, ctx)
	d.record(t, firstEnd.CallID)
	d.waitAgent(t, "1001", "ready")

	b := browsertest.Chromium(t)
	b.SetLanguages(map[string]string{"en": "en-US,en", "zh-CN": "zh-CN,zh"}[lang])
	b.Viewport(1400, 900)
	b.Navigate("http://" + d.e.HTTPAddr() + "/")
	b.Until("login form", `!document.getElementById("login-view").hidden && document.getElementById("conn").classList.contains("on")`)
	if got := b.Eval(`document.querySelector("#login-view h2").textContent`); got != pick("Sign in", "登录") {
		t.Errorf("login title %q in %s", got, lang)
	}
	login := func(id string) {
		b.Eval(fmt.Sprintf(`document.getElementById("login-agent").value = %q;
			document.getElementById("login-password").value = "pass%s";
			document.getElementById("login-form").requestSubmit(); true`, id, id))
	}
	login("1001")
	b.Until("agent view", `!document.getElementById("agent-view").hidden`)
	b.Until("ready", `document.getElementById("state").dataset.state === "ready" && document.getElementById("state").textContent === "`+pick("ready", "空闲")+`"`)

	// The same customer calls again.
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	b.Until("call card", `!document.getElementById("call-card").hidden`)
	b.Until("customer card", `document.getElementById("cust-name").textContent === "Demo Gold" && document.getElementById("cust-tier").dataset.tier === "gold"`)
	card := b.Eval(`document.getElementById("customer").innerText`)
	for _, want := range []string{"C0002", "north", "Family 128", "2019-11", "billing", pick("Plan", "套餐")} {
		if !strings.Contains(card, want) {
			t.Errorf("customer card lacks %q:\n%s", want, card)
		}
	}
	b.Until("history with the earlier call", `document.querySelectorAll("#history tbody tr").length === 1 &&
		document.getElementById("history").innerText.includes("1001") && document.getElementById("history").innerText.includes("`+pick("answered", "已接听")+`")`)
	b.Until("IVR trace", `document.querySelectorAll("#trace li").length >= 4 && document.getElementById("trace").innerText.includes("main-menu · `+pick("chose", "按键选择")+` [1] → queue-billing")`)
	d.bridged(t, ctx, "1001")
	b.Until("talking, controls that apply", `document.getElementById("call-state").dataset.state === "talking" && !document.getElementById("hold").disabled &&
		document.getElementById("complete").disabled && document.getElementById("return").disabled && !document.getElementById("call-timer-box").hidden`)
	b.Eval(`document.getElementById("more").open = false; true`)
	if *readmeShots && lang == "en" {
		b.ScreenshotTo("../../../../docs/agent.png")
	}
	shots(t, b, dir, "desk-call")

	b.Eval(`document.getElementById("hangup").click(); true`)
	if code, err := phone.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("hang-up from the page did not release the phone: exit %d (%v)\n%s", code, err, phone.Output())
	}
	b.Until("wrap-up card with billing's codes", `!document.getElementById("wrap-card").hidden &&
		[...document.getElementById("dispo").options].map(o => o.value).join(",") === ",resolved,refund,payment-plan,callback"`)
	note := pick("refund by Friday", "周五前退款")
	b.Eval(`const d = document.getElementById("dispo"); d.value = "refund"; d.dispatchEvent(new Event("change"));
		document.getElementById("dispo-note").value = "` + note + `"; document.getElementById("wrap-end").click(); true`)
	b.Until("ready again", `document.getElementById("state").dataset.state === "ready"`)
	c.waitAudio(c.packets() + 25) // the caller is in the survey
	c.press('5')
	c.finished(ctx)
	end := d.end(t, ctx)
	rec := d.record(t, end.CallID)
	if rec.WrapUpCode != "refund" || rec.WrapUpNote != note || rec.Agent != "1001" {
		t.Fatalf("record: code %q note %q agent %q", rec.WrapUpCode, rec.WrapUpNote, rec.Agent)
	}
	targets := map[string]cdr.Target{}
	for _, tr := range d.e.cfg.Tiers {
		targets[tr.Name] = cdr.Target{Target: tr.Target / 100, Within: tr.Within.D()}
	}
	setup := func(string) (cdr.ReportSetup, error) {
		return cdr.ReportSetup{Dir: d.e.records.dir, Base: cdr.Options{Targets: targets, ShortAbandon: d.e.cfg.ACD.ShortAbandon.D()}}, nil
	}
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := cdr.ReportCommand(args, &out, &errOut, setup, time.Now()); err != nil {
			t.Fatalf("report %v: %v %s", args, err, errOut.String())
		}
		return out.String()
	}
	if out := cli("-by", "wrap_up_code", "-interval", "24h", "-csv"); !strings.Contains(out, ",wrap_up_code,refund,1,1,1,") {
		t.Errorf("report -by wrap_up_code:\n%s", out)
	}

	// The supervisor.
	b.Eval(`document.getElementById("logout").click(); true`)
	b.Until("login again", `!document.getElementById("login-view").hidden`)
	login("9001")
	b.Until("wallboard", `!document.getElementById("sup-view").hidden`)
	b.Until("per-queue SL for gold in billing", `(() => { const c = document.querySelector('#queues td[data-queue="billing"][data-tier="gold"]');
		return c && c.textContent.includes("100") && c.classList.contains("met") })()`)
	b.Until("gold tile", `document.querySelector('#sl .tile[data-tier="gold"]').classList.contains("met")`)
	b.Until("chart", `document.querySelector("#sl-chart") && S.chartRows.length > 0`)
	from, to := b.Eval(`S.chartFrom.toISOString()`), b.Eval(`S.chartTo.toISOString()`)
	var rep cdr.ReportResponse
	getJSON(t, "http://"+d.e.HTTPAddr()+"/api/reports?by=tier&interval=1h&from="+url.QueryEscape(from)+"&to="+url.QueryEscape(to), &rep)
	points := 0
	for _, r := range rep.Rows {
		if r.ServiceLevel != nil {
			points++
		}
	}
	if got := b.Eval(`document.querySelectorAll("#sl-chart circle").length`); points == 0 || got != fmt.Sprint(points) {
		t.Errorf("chart draws %s points; /api/reports has %d intervals with a service level", got, points)
	}
	if got := b.Eval(`document.querySelectorAll('#sl-chart circle[data-tier="gold"]').length`); got != fmt.Sprint(points) {
		t.Errorf("gold series has %s points, want %d (only gold called)", got, points)
	}
	b.Until("seat map", `document.querySelector("#seats thead th")`) // 1001 signed out with its desktop
	if *readmeShots && lang == "en" {
		b.ScreenshotTo("../../../../docs/wallboard.png")
	}
	shots(t, b, dir, "wallboard")

	// Recordings: both calls, played in the page through the Range endpoint.
	b.Eval(`document.querySelector('#nav [data-view="recordings"]').click(); true`)
	b.Until("recordings listed", `document.querySelectorAll("#rec-list tbody tr[data-call]").length === 2`)
	b.Eval(`document.querySelector('#rec-list tr[data-call="` + end.CallID + `"] button.play').click(); true`)
	b.Until("player", `!document.getElementById("player-box").hidden && document.getElementById("player").currentSrc.includes("`+end.CallID+`.wav")`)
	deadline := time.Now().Add(15 * time.Second)
	for !has206(b.Responses(), end.CallID+".wav") {
		if time.Now().After(deadline) {
			t.Fatalf("the player never got a 206 for the recording: %+v", b.Responses())
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Eval(`document.getElementById("rec-tier").value = "diamond"; document.getElementById("rec-form").requestSubmit(); true`)
	b.Until("tier filter", `document.querySelectorAll("#rec-list tbody tr[data-call]").length === 0`)
	shots(t, b, dir, "recordings")

	// Reports: by wrap-up code, and the CSV export equals the CLI's.
	b.Eval(`document.querySelector('#nav [data-view="reports"]').click(); true`)
	b.Eval(`document.getElementById("rep-by").value = "wrap_up_code"; document.getElementById("rep-totals").checked = true;
		document.getElementById("rep-form").requestSubmit(); true`)
	b.Until("report table", `document.getElementById("rep-table").innerText.includes("refund")`)
	b.Eval(`S.lastCSV = null; document.getElementById("rep-csv").click(); true`)
	b.Until("CSV exported", `S.lastCSV !== null`)
	q, err := url.ParseQuery(b.Eval(`S.lastReportQuery`))
	if err != nil {
		t.Fatal(err)
	}
	want := cli("-by", "wrap_up_code", "-totals", "-csv", "-interval", q.Get("interval"), "-from", q.Get("from"), "-to", q.Get("to"))
	if got := b.Eval(`S.lastCSV`); got != want {
		t.Errorf("exported CSV differs from the CLI's:\n--- page\n%s\n--- CLI\n%s", got, want)
	}
	shots(t, b, dir, "reports")

	// A TV: the wallboard alone, large.
	b.Eval(`document.getElementById("tv").click(); true`)
	b.Until("TV mode", `document.body.classList.contains("tv") && !document.getElementById("sup-view").hidden`)
	shots(t, b, dir, "tv")
	t.Logf("screenshots in %s", dir)
	for _, x := range b.Errors() {
		t.Errorf("page error: %s", x)
	}
}

func has206(rs []browsertest.Response, suffix string) bool {
	for _, r := range rs {
		if r.Status == http.StatusPartialContent && strings.Contains(r.URL, suffix) {
			return true
		}
	}
	return false
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.SetBasicAuth("9001", "pass9001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
