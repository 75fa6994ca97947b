package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/campaign"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi/browsertest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// closedSpan is an hour of today (UTC) that does not contain now.
func closedSpan(now time.Time) string {
	h := now.UTC().Hour()
	from := (h + 2) % 24
	if from < h {
		from = (h + 21) % 24 // late in the day: an hour of the morning
	}
	return fmt.Sprintf("%02d:00-%02d:00", from, from+1)
}

// campaignDir writes a campaign file, its list and do-not-call file.
// Numbers end in the customers' behaviour digit (sipptest.Customers).
func campaignDir(t *testing.T, spec string, contacts [][4]string, dnc []string) string {
	t.Helper()
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("id,number,name,region\n")
	for _, c := range contacts {
		csv.WriteString(strings.Join(c[:], ",") + "\n")
	}
	files := map[string]string{"test.yaml": spec, "list.csv": csv.String(), "dnc.txt": strings.Join(dnc, "\n") + "\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// campaignAgents adds agents 2001…200n working queue general only.
func campaignAgents(c *config.Config, n int) {
	for i := 1; i <= n; i++ {
		id := strconv.Itoa(2000 + i)
		c.Agents = append(c.Agents, config.Agent{ID: id, Name: "Agent " + id, Password: "pass" + id, Role: "agent",
			Skills: map[string]int{"general": 1}, Region: "north"})
	}
}

// A progressive campaign of 50 contacts worked by 5 agents (SIPp), with
// customers who answer, are busy, never answer, or answer and hang up at
// once, over-dialling at ratio 2 under a 10 % abandon cap, while diamond
// customers call in: every contact whose window is open ends with an
// outcome; contacts of a closed region and on the do-not-call list are
// never dialled; the abandon rate counted from the records is under the
// cap; the inbound callers are answered within their tier's 10 s.
func TestProgressiveCampaign(t *testing.T) {
	t.Parallel()
	custPort := sipptest.FreeUDPPort(t)
	var contacts [][4]string
	var dnc, closed []string
	for i := 0; i < 50; i++ {
		// Mostly answering customers; every 6th busy, 7th never answers…
		digit := []int{0, 1, 2, 3, 4, 5, 6, 0, 7, 1, 8, 2, 9}[i%13]
		number := fmt.Sprintf("1390000%03d%d", i, digit)
		region := []string{"north", "south"}[i%2]
		if i%10 == 3 {
			region = "east" // its window is closed now
			closed = append(closed, number)
		}
		if i%16 == 5 {
			dnc = append(dnc, number)
		}
		contacts = append(contacts, [4]string{fmt.Sprintf("c%02d", i), number, "Contact " + strconv.Itoa(i), region})
	}
	spec := fmt.Sprintf(`name: test
enabled: true
mode: progressive
queue: general
tier: normal
list: list.csv
dnc: dnc.txt
ratio: 2
max_abandon_rate: 10%%
abandon_after: 2s
ring_timeout: 5s
timezone: UTC
windows:
  default:
    daily: "00:00-24:00"
  east:
    daily: %q
retry:
  no_answer: {attempts: 2, after: 1s}
  busy: {attempts: 2, after: 1s}
  abandoned: {attempts: 2, after: 1s}
  hung_up: {attempts: 1, after: 1s}
  failed: {attempts: 1, after: 1s}
max_attempts: 3
`, closedSpan(time.Now()))
	dir := campaignDir(t, spec, contacts, dnc)
	d := startDemo(t, func(c *config.Config) {
		c.Campaigns = dir
		c.Trunks[0].Outbound = "127.0.0.1:" + strconv.Itoa(custPort)
		c.ACD.WrapUp = config.Duration(time.Second)
		for i := range c.Queues {
			c.Queues[i].WrapUp = config.Duration(time.Second)
		}
		campaignAgents(c, 5)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.CustomersTemplate, sipptest.Customers{RingMs: 300, HangupMs: 2800}),
		LocalPort: custPort, Calls: 1000, Timeout: 240 * time.Second})
	for i := 1; i <= 5; i++ {
		// The campaign is running: an agent may be busy the moment it signs in.
		id := strconv.Itoa(2000 + i)
		port := sipptest.FreeUDPPort(t)
		sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: 2000}),
			LocalPort: port, Calls: 200, Timeout: 240 * time.Second})
		sipptest.RegisterPhone(t, d.e.SIPAddr(), id, "pass"+id, port, 300)
	}

	// Diamond customers call in while the campaign runs.
	time.Sleep(3 * time.Second)
	var inbound []*caller
	for i := 0; i < 3; i++ {
		inbound = append(inbound, d.call(t, "13800000001", ctx))
		time.Sleep(4 * time.Second)
	}

	m := d.e.campaigns.m
	r, err := m.Campaign("test")
	if err != nil {
		t.Fatal(err)
	}
	isClosed := map[string]bool{}
	for _, n := range closed {
		isClosed[n] = true
	}
	for {
		open := 0
		for _, cv := range r.Contacts() {
			if !isClosed[cv.Number] && cv.Progress.State != campaign.Done {
				open++
			}
		}
		if p, _ := m.Progress("test"); open == 0 && p.InFlight == 0 {
			break
		}
		if ctx.Err() != nil {
			p, _ := m.Progress("test")
			t.Fatalf("%d contacts still open; progress %+v", open, p)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range inbound {
		c.finished(ctx)
	}

	isDNC := map[string]bool{}
	for _, n := range dnc {
		isDNC[n] = true
	}
	for _, cv := range r.Contacts() {
		p := cv.Progress
		switch {
		case isClosed[cv.Number]:
			if p.Attempts != 0 || p.State == campaign.Done {
				t.Errorf("contact %s of a closed window: %+v", cv.ID, p)
			}
		case isDNC[cv.Number]:
			if p.Attempts != 0 || p.LastOutcome != campaign.DNC {
				t.Errorf("do-not-call contact %s: %+v", cv.ID, p)
			}
		case p.State != campaign.Done || p.LastOutcome == "" || p.Attempts == 0:
			t.Errorf("contact %s ended without an outcome: %+v", cv.ID, p)
		}
	}

	// The records: one per attempt, none for a closed or do-not-call
	// contact, every outcome as the customer behaved; the abandon rate.
	var reached, abandoned int
	attempts := map[string]int{}
	var diamond []cdr.Record
	deadline := time.Now().Add(20 * time.Second)
	for {
		reached, abandoned, diamond = 0, 0, nil
		clear(attempts)
		for rec, err := range cdr.Read(d.e.records.dir, time.Time{}, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			if rec.Caller == "13800000001" {
				diamond = append(diamond, rec)
				continue
			}
			cp := rec.Campaign
			if cp == nil || rec.Direction != "outbound" {
				t.Errorf("record %s is not a campaign attempt: %+v", rec.CallID, rec)
				continue
			}
			if isClosed[rec.Caller] || isDNC[rec.Caller] {
				t.Errorf("contact %s dialled: %+v", cp.ContactID, rec)
			}
			attempts[cp.ContactID]++
			last := rec.Caller[len(rec.Caller)-1]
			switch o := campaign.Outcome(cp.Outcome); {
			case last == '6' && o != campaign.Busy,
				last == '7' && o != campaign.NoAnswer,
				last == '8' && o != campaign.HungUp && o != campaign.Abandoned,
				last != '6' && last != '7' && last != '8' && o != campaign.Completed && o != campaign.Abandoned:
				t.Errorf("contact %s (number %s) attempt outcome %q", cp.ContactID, rec.Caller, o)
			case o == campaign.Completed && (rec.Agent == "" || rec.Disposition != cdr.Answered || rec.TalkMS <= 0):
				t.Errorf("completed attempt without agent or talk: %+v", rec)
			}
			if campaign.Outcome(cp.Outcome).Reached() {
				reached++
			}
			if cp.Outcome == string(campaign.Abandoned) {
				abandoned++
			}
		}
		total := 0
		for _, cv := range r.Contacts() {
			total += cv.Progress.Attempts
		}
		n := 0
		for _, k := range attempts {
			n += k
		}
		if n == total && len(diamond) == len(inbound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempt records, the dialler counted %d; %d inbound records", n, total, len(diamond))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if reached == 0 {
		t.Fatal("no customer reached")
	}
	if rate := float64(abandoned) / float64(reached); rate > 0.10 {
		t.Errorf("abandon rate %.1f %% (%d of %d reached), over the 10 %% cap", 100*rate, abandoned, reached)
	}
	t.Logf("%d reached, %d abandoned", reached, abandoned)
	for _, rec := range diamond {
		if rec.Disposition != cdr.Answered || rec.WaitMS > 10_000 {
			t.Errorf("inbound diamond call %s: %s after %d ms", rec.CallID, rec.Disposition, rec.WaitMS)
		}
	}
	// The results export has every contact.
	var b strings.Builder
	if err := m.ExportResults("test", &b); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(b.String(), "\n"); lines != len(contacts)+1 {
		t.Errorf("results export: %d lines, want %d", lines, len(contacts)+1)
	}
}

// A preview campaign on the desktop (headless Chromium): the agent sees
// the contact's record, dials, the customer (SIPp) answers, the agent
// fills the script, the call ends and the agent wraps up with a code; the
// attempt's record and the campaign's results hold the answers and code.
func TestBrowserCampaignPreview(t *testing.T) {
	t.Parallel()
	custPort := sipptest.FreeUDPPort(t)
	spec := `name: renew
enabled: true
mode: preview
queue: general
list: list.csv
dnc: dnc.txt
timezone: UTC
windows:
  default:
    daily: "00:00-24:00"
script:
  - {id: renew, text: "Will the customer renew?", kind: yesno, required: true}
  - {id: plan, text: "Which plan?", kind: choice, options: [basic, premium]}
  - {id: notes, text: "Notes", kind: text}
`
	dir := campaignDir(t, spec, [][4]string{{"r1", "13900001110", "Ms Preview", "north"}}, nil)
	d := startDemo(t, func(c *config.Config) {
		c.Campaigns = dir
		c.Trunks[0].Outbound = "127.0.0.1:" + strconv.Itoa(custPort)
		for i := range c.Queues {
			c.Queues[i].WrapUp = config.Duration(time.Minute) // the test ends it from the page
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cust := sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.CustomersTemplate, sipptest.Customers{RingMs: 300}),
		LocalPort: custPort, Calls: 1, Timeout: 90 * time.Second})
	d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 4000}, 1)

	b := browsertest.Chromium(t)
	b.Viewport(1400, 900)
	b.Navigate("http://" + d.e.HTTPAddr() + "/")
	b.Until("login form", `!document.getElementById("login-view").hidden && document.getElementById("conn").classList.contains("on")`)
	b.Eval(`document.getElementById("login-agent").value = "1003";
		document.getElementById("login-password").value = "pass1003";
		document.getElementById("login-form").requestSubmit(); true`)
	// The preview was offered when the phone signed the agent in: the
	// page asks for it (campaign.current) once signed in.
	b.Until("the contact's record", `!document.getElementById("campaign-preview").hidden &&
		document.getElementById("campaign-contact").innerText.includes("Ms Preview") &&
		document.getElementById("campaign-contact").innerText.includes("13900001110")`)
	b.Eval(`document.getElementById("campaign-dial").click(); true`)
	b.Until("the script", `!document.getElementById("campaign-script").hidden && document.getElementById("cpq-renew") !== null`)
	b.Until("talking to the customer", `document.getElementById("call-state").dataset.state === "talking"`)
	b.Eval(`document.getElementById("cpq-renew").value = "yes"; document.getElementById("cpq-renew").dispatchEvent(new Event("input"));
		document.getElementById("cpq-plan").value = "premium"; document.getElementById("cpq-plan").dispatchEvent(new Event("input"));
		document.getElementById("cpq-notes").value = "wants a paper invoice"; document.getElementById("cpq-notes").dispatchEvent(new Event("input"));
		true`)
	b.Until("save enabled", `!document.getElementById("campaign-save").disabled`)
	b.Eval(`document.getElementById("campaign-save").click(); true`)
	b.Until("saved", `document.getElementById("campaign-saved").textContent !== ""`)
	// The agent's phone hangs up after 4 s of talk: wrap-up.
	b.Until("wrap-up card with general's codes", `!document.getElementById("wrap-card").hidden &&
		[...document.getElementById("dispo").options].map(o => o.value).includes("resolved")`)
	b.Eval(`const d = document.getElementById("dispo"); d.value = "resolved"; d.dispatchEvent(new Event("change"));
		document.getElementById("wrap-end").click(); true`)
	b.Until("ready again", `document.getElementById("state").dataset.state === "ready"`)
	if code, err := cust.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d (%v)\n%s", code, err, cust.Output())
	}

	run, err := d.e.campaigns.m.Campaign("renew")
	if err != nil {
		t.Fatal(err)
	}
	var cv campaign.ContactView
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cv = run.Contacts()[0]
		if cv.Progress.State == campaign.Done || time.Now().After(deadline) {
			break
		}
	}
	if cv.Progress.State != campaign.Done || cv.Progress.LastOutcome != campaign.Completed {
		t.Fatalf("contact after the call: %+v", cv.Progress)
	}
	rec := d.record(t, cv.Progress.History[len(cv.Progress.History)-1].CallID)
	if rec.Direction != "outbound" || rec.Agent != "1003" || rec.WrapUpCode != "resolved" || rec.Campaign == nil ||
		rec.Campaign.Outcome != "completed" || rec.Campaign.Answers["renew"] != "yes" || rec.Campaign.Answers["plan"] != "premium" ||
		rec.Campaign.Answers["notes"] != "wants a paper invoice" || rec.TalkMS <= 0 {
		t.Fatalf("attempt record %+v (campaign %+v)", rec, rec.Campaign)
	}
	var csv strings.Builder
	if err := d.e.campaigns.m.ExportResults("renew", &csv); err != nil {
		t.Fatal(err)
	}
	if out := csv.String(); !strings.Contains(out, "resolved") || !strings.Contains(out, "premium") || !strings.Contains(out, "wants a paper invoice") {
		t.Fatalf("results export lacks the wrap-up code or the answers:\n%s", out)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}

// Supervisors run campaigns from the wallboard (start, pause, stop, the
// export) and from the HTTP API.
func TestCampaignControl(t *testing.T) {
	t.Parallel()
	spec := "name: spring\nenabled: false\nmode: progressive\nqueue: general\nlist: list.csv\n"
	dir := campaignDir(t, spec, [][4]string{{"a", "13900002220", "A", "north"}, {"b", "13900002221", "B", "south"}}, nil)
	d := startDemo(t, func(c *config.Config) { c.Campaigns = dir })

	b := browsertest.Chromium(t)
	b.Viewport(1400, 900)
	b.Navigate("http://" + d.e.HTTPAddr() + "/")
	b.Until("login form", `!document.getElementById("login-view").hidden && document.getElementById("conn").classList.contains("on")`)
	b.Eval(`document.getElementById("login-agent").value = "9001";
		document.getElementById("login-password").value = "pass9001";
		document.getElementById("login-form").requestSubmit(); true`)
	row := `document.querySelector('#campaigns tr[data-campaign="spring"]')`
	b.Until("the campaign on the wallboard", row+` && `+row+`.dataset.state === "stopped"`)
	for _, step := range []struct{ op, want string }{{"start", "running"}, {"pause", "paused"}, {"start", "running"}, {"stop", "stopped"}} {
		b.Until(step.op+" enabled", `!`+row+`.querySelector('button[data-op="`+step.op+`"]').disabled`)
		b.Eval(row + `.querySelector('button[data-op="` + step.op + `"]').click(); true`)
		b.Until(step.want, row+`.dataset.state === "`+step.want+`"`)
		if p, _ := d.e.campaigns.m.Progress("spring"); string(p.State) != step.want {
			t.Fatalf("after %s the dialler says %s", step.op, p.State)
		}
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}

	// The HTTP API, with a supervisor's credentials; agents are refused.
	do := func(method, path, user string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+d.e.HTTPAddr()+path, nil)
		req.SetBasicAuth(user, "pass"+user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := do("GET", "/api/campaigns", "1001"); code != http.StatusForbidden {
		t.Fatalf("an agent listed campaigns: %d", code)
	}
	if code, body := do("POST", "/api/campaigns/spring/pause", "9001"); code != http.StatusBadRequest {
		t.Fatalf("pausing a stopped campaign: %d %s", code, body)
	}
	if code, body := do("POST", "/api/campaigns/spring/start", "9001"); code != http.StatusOK || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("start: %d %s", code, body)
	}
	if code, body := do("GET", "/api/campaigns", "9001"); code != http.StatusOK || !strings.Contains(body, `"campaign":"spring"`) || !strings.Contains(body, `"total":2`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/campaigns/nope", "9001"); code != http.StatusNotFound {
		t.Fatalf("unknown campaign: %d", code)
	}
	code, body := do("GET", "/api/campaigns/spring/results.csv", "9001")
	if lines := strings.Split(strings.TrimSpace(body), "\n"); code != http.StatusOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "id,number") {
		t.Fatalf("results export: %d\n%s", code, body)
	}
	audit := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !strings.Contains(audit, "campaign_start"); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(d.e.records.dir, "audit-"+time.Now().UTC().Format("2006-01-02")+".jsonl"))
		audit = string(b)
	}
	if !strings.Contains(audit, "campaign_start") {
		t.Fatalf("the API's start is not audited:\n%s", audit)
	}
}
