package campaign

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/routing/crm"
)

// minimal is a valid spec the table's cases break one line at a time.
const minimal = `name: t
mode: progressive
queue: general
list: l.csv
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSpecDefaults(t *testing.T) {
	dir := writeFiles(t, map[string]string{"l.csv": "number\n13800000001\n"})
	s, err := ParseSpec("t.yaml", []byte(minimal), dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ratio != 1 || s.MaxAbandonRate != 0.03 || s.AbandonAfter != 2*time.Second || s.Apology != "sorry-abandon" ||
		s.RingTimeout != 25*time.Second || s.MaxAttempts != 5 || s.OutboundShare != 1 || s.Tier != "normal" || s.Enabled {
		t.Errorf("defaults: %+v", s)
	}
	if s.List != filepath.Join(dir, "l.csv") {
		t.Errorf("list resolved to %q", s.List)
	}
	if got := s.Retry[NoAnswer]; got != (RetryRule{Attempts: 3, After: 2 * time.Hour}) {
		t.Errorf("no_answer default %+v", got)
	}
	// Default window: every day 09:00-21:00 in the campaign's zone.
	for d := range s.Windows.Default.Hours {
		if got := s.Windows.Default.Hours[d]; len(got) != 1 || got[0] != (Span{From: 9 * 60, To: 21 * 60}) {
			t.Errorf("default hours of day %d: %v", d, got)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"l.csv": "number\n13800000001\n"})
	cases := []struct {
		name string
		yaml string
		want []string // substrings, each its own error
	}{
		{"unknown field", minimal + "colour: red\n", []string{"t.yaml:5: colour: unknown field"}},
		{"bad mode", strings.Replace(minimal, "progressive", "predictive", 1), []string{`t.yaml:2: mode: "predictive": want preview or progressive`}},
		{"missing mode", strings.Replace(minimal, "mode: progressive\n", "", 1), []string{"t.yaml:1: mode: missing"}},
		{"missing name", strings.Replace(minimal, "name: t\n", "", 1), []string{"name: missing"}},
		{"bad name", strings.Replace(minimal, "name: t", "name: ../etc", 1), []string{`t.yaml:1: name: "../etc"`}},
		{"missing queue", strings.Replace(minimal, "queue: general\n", "", 1), []string{"queue: missing"}},
		{"missing list", strings.Replace(minimal, "list: l.csv\n", "", 1), []string{"list: missing"}},
		{"list not found", strings.Replace(minimal, "l.csv", "nope.csv", 1), []string{"t.yaml:4: list: stat " + filepath.Join(dir, "nope.csv") + ": no such file"}},
		{"ratio too high", minimal + "ratio: 4\n", []string{`t.yaml:5: ratio: "4": want calls per free agent from 1 to 3`}},
		{"ratio below one", minimal + "ratio: 0.5\n", []string{"t.yaml:5: ratio:"}},
		{"ratio in preview", strings.Replace(minimal, "progressive", "preview", 1) + "ratio: 2\n", []string{"t.yaml:5: ratio: preview mode dials one contact per agent"}},
		{"abandon rate", minimal + "max_abandon_rate: 0%\n", []string{`t.yaml:5: max_abandon_rate: "0%"`}},
		{"abandon rate words", minimal + "max_abandon_rate: low\n", []string{"t.yaml:5: max_abandon_rate:"}},
		{"abandon_after", minimal + "abandon_after: 2\n", []string{`t.yaml:5: abandon_after: "2": want a duration`}},
		{"ring_timeout range", minimal + "ring_timeout: 1s\n", []string{"t.yaml:5: ring_timeout: 1s: want 5s to 2m0s"}},
		{"apology", minimal + "apology: ../x\n", []string{`t.yaml:5: apology: "../x" is not a prompt name`}},
		{"caller id", minimal + "caller_id: 400-800\n", []string{"t.yaml:5: caller_id:"}},
		{"timezone", minimal + "timezone: Mars/Olympus\n", []string{`t.yaml:5: timezone: "Mars/Olympus": not an IANA time zone`}},
		{"share", minimal + "outbound_share: 1.5\n", []string{"t.yaml:5: outbound_share:"}},
		{"max_attempts", minimal + "max_attempts: 0\n", []string{`t.yaml:5: max_attempts: "0": want a whole number from 1 to 100`}},
		{"window day", minimal + "windows:\n  default:\n    weekdays: \"09:00-17:00\"\n", []string{`t.yaml:7: windows.default.weekdays: unknown day "weekdays"`}},
		{"window hours", minimal + "windows:\n  default:\n    mon-fri: \"17:00-09:00\"\n", []string{"t.yaml:7: windows.default.mon-fri: hours \"17:00-09:00\": end must be after start"}},
		{"window clock", minimal + "windows:\n  default:\n    mon: \"9-17\"\n", []string{`t.yaml:7: windows.default.mon: time "9": want HH:MM`}},
		{"window region zone", minimal + "windows:\n  west:\n    timezone: Nowhere/City\n", []string{`t.yaml:7: windows.west.timezone: "Nowhere/City"`}},
		{"window empty region", minimal + "windows:\n  west: {}\n", []string{"t.yaml:6: windows.west: neither hours nor timezone"}},
		{"default zone", minimal + "windows:\n  default:\n    timezone: UTC\n", []string{"t.yaml:6: windows.default.timezone: the default window uses the campaign's timezone"}},
		{"holiday", minimal + "holidays: [2027-13-01]\n", []string{`t.yaml:5: holidays: "2027-13-01": want YYYY-MM-DD`}},
		{"retry outcome", minimal + "retry:\n  voicemail: {attempts: 2}\n", []string{"t.yaml:6: retry.voicemail: unknown outcome"}},
		{"retry attempts", minimal + "retry:\n  busy: {attempts: 0}\n", []string{`t.yaml:6: retry.busy.attempts: "0"`}},
		{"retry field", minimal + "retry:\n  busy: {every: 5m}\n", []string{"t.yaml:6: retry.busy.every: unknown field (want attempts, after)"}},
		{"script kind", minimal + "script:\n  - {id: a, text: A, kind: date}\n", []string{`t.yaml:6: script[0].kind: "date"`}},
		{"script dup", minimal + "script:\n  - {id: a, text: A}\n  - {id: a, text: B}\n", []string{`t.yaml:7: script[1].id: question "a" given twice`}},
		{"script choice", minimal + "script:\n  - {id: a, text: A, kind: choice, options: [x]}\n", []string{"t.yaml:6: script[0].options: a choice needs at least two options"}},
		{"script options", minimal + "script:\n  - {id: a, text: A, kind: yesno, options: [x, y]}\n", []string{"t.yaml:6: script[0].options: only a choice has options"}},
		{"script text", minimal + "script:\n  - {id: a}\n", []string{"t.yaml:6: script[0].text: missing"}},
		{"pull url", minimal + "pull: {url: ftp://x/y}\n", []string{`t.yaml:5: pull.url: "ftp://x/y": want an http or https URL`}},
		{"pull missing url", minimal + "pull: {timeout: 5s}\n", []string{"t.yaml:5: pull.url: missing"}},
		{"dup key", minimal + "queue: billing\n", []string{"t.yaml:5: queue: given twice"}},
		{"agents dup", minimal + "agents: [\"1001\", \"1001\"]\n", []string{`agents[1]: agent "1001" listed twice`}},
		{"bool", minimal + "enabled: maybe\n", []string{`t.yaml:5: enabled: "maybe": want true or false`}},
		{"not yaml", "name: [x\n", []string{"t.yaml:1: invalid YAML"}},
		{"not a mapping", "- a\n- b\n", []string{"t.yaml:1: a campaign must be a mapping"}},
		{"empty", "", []string{"t.yaml: file is empty"}},
		{"several at once", minimal + "ratio: 9\nmax_attempts: x\n", []string{"t.yaml:5: ratio:", "t.yaml:6: max_attempts:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec("t.yaml", []byte(tc.yaml), dir)
			var se SpecErrors
			if !errors.As(err, &se) {
				t.Fatalf("want SpecErrors, got %v", err)
			}
			if len(se) != len(tc.want) {
				t.Errorf("want %d errors, got %d:\n%v", len(tc.want), len(se), err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestSpecFull(t *testing.T) {
	dir := writeFiles(t, map[string]string{"l.csv": "number\n13800000001\n", "dnc.txt": "13800000002\n"})
	src := `name: full
enabled: true
mode: progressive
queue: general
agents: ["1001", "1003"]
tier: gold
list: l.csv
pull: {url: "http://127.0.0.1:1/c?page={page}", timeout: 2s}
ratio: 1.5
max_abandon_rate: "2.5%"
abandon_after: 3s
apology: outbound/sorry
ring_timeout: 30s
preview_timeout: 2m
caller_id: "+864008001000"
timezone: Asia/Shanghai
windows:
  default:
    mon-fri: "09:00-12:00, 11:00-13:00, 14:00-20:00"
  west:
    timezone: Asia/Urumqi
  south:
    daily: "10:00-21:00"
holidays: [2027-01-01]
dnc: dnc.txt
retry:
  busy: {after: 5m}
max_attempts: 7
outbound_share: 40%
script:
  - {id: renew, text: "Renew?", kind: yesno, required: true}
  - {id: plan, text: "Plan?", kind: choice, options: [a, b]}
`
	s, err := ParseSpec("full.yaml", []byte(src), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Enabled || s.Tier != "gold" || s.Ratio != 1.5 || s.MaxAbandonRate != 0.025 || s.OutboundShare != 0.4 ||
		s.MaxAttempts != 7 || s.AbandonAfter != 3*time.Second || s.PreviewTimeout != 2*time.Minute || len(s.Agents) != 2 {
		t.Errorf("parsed %+v", s)
	}
	if s.Pull == nil || s.Pull.Timeout != 2*time.Second {
		t.Errorf("pull %+v", s.Pull)
	}
	// Busy keeps its default attempts, takes the given spacing.
	if got := s.Retry[Busy]; got != (RetryRule{Attempts: 3, After: 5 * time.Minute}) {
		t.Errorf("busy rule %+v", got)
	}
	// Overlapping spans merge.
	if got := s.Windows.Default.Hours[time.Monday]; len(got) != 2 || got[0] != (Span{From: 540, To: 780}) || got[1] != (Span{From: 840, To: 1200}) {
		t.Errorf("monday spans %v", got)
	}
	if got := s.Windows.Default.Hours[time.Saturday]; len(got) != 0 {
		t.Errorf("saturday should be closed, got %v", got)
	}
	// A region with only a zone keeps the default hours in its own zone.
	west := s.Windows.For("west")
	if west.Location.String() != "Asia/Urumqi" || len(west.Hours[time.Monday]) != 2 {
		t.Errorf("west window %+v", west)
	}
	if s.Windows.For("north") != s.Windows.Default {
		t.Error("a region without a window uses the default")
	}
	if got := s.Regions(); strings.Join(got, ",") != "south,west" {
		t.Errorf("regions %v", got)
	}
	err = s.CheckNames(Names{Queues: []string{"billing"}, Tiers: []string{"normal"}, Agents: []string{"1001"}})
	for _, w := range []string{`full.yaml:4: queue: no queue named "general"`, `full.yaml:6: tier: no tier named "gold"`, `full.yaml:5: agents: no agent "1003"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("CheckNames: %v, want %q", err, w)
		}
	}
	if err := s.CheckNames(Names{Queues: []string{"general"}, Tiers: []string{"gold"}, Agents: []string{"1001", "1003"}}); err != nil {
		t.Errorf("CheckNames of known names: %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"l.csv":     "number\n13800000001\n",
		"a.yaml":    minimal,
		"b.yml":     strings.Replace(minimal, "mode: progressive", "mode: preview", 1),
		"notes.txt": "not a campaign",
	})
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "b.yml")+`:1: name: campaign "t" is also defined in `+filepath.Join(dir, "a.yaml")) {
		t.Errorf("duplicate names: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "b.yml"), []byte(strings.Replace(minimal, "name: t", "name: u", 1)), 0o644)
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(minimal+"ratio: 7\n"), 0o644)
	_, err = LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c.yaml")+":5: ratio:") {
		t.Errorf("bad file in dir: %v", err)
	}
	os.Remove(filepath.Join(dir, "c.yaml"))
	specs, err := LoadDir(dir)
	if err != nil || len(specs) != 2 || specs[0].Name != "t" || specs[1].Name != "u" {
		t.Errorf("LoadDir: %v %v", specs, err)
	}
}

// The demo's sample campaign loads, and its names match the demo
// (queue general, regions north and south, tiers of DEMO.md).
func TestSampleCampaign(t *testing.T) {
	specs, err := LoadDir("../../testdata/campaigns")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || specs[0].Name != "renewals" || specs[0].Enabled || specs[0].Mode != Preview {
		t.Fatalf("want the disabled preview campaign renewals, got %+v", specs)
	}
	s := specs[0]
	if err := s.CheckNames(Names{Queues: []string{"general", "billing", "technical"}, Tiers: []string{"diamond", "gold", "silver", "normal"},
		Agents: []string{"1001", "1002", "1003", "9001"}}); err != nil {
		t.Error(err)
	}
	list, err := ReadList(t.Context(), s, ImportOptions{Tiers: []string{"diamond", "gold", "silver", "normal"}})
	if err != nil {
		t.Fatal(err)
	}
	if list.Report.Loaded != 20 || list.Report.RejectedCount != 0 || len(list.Report.NoWindow) != 1 || list.Report.NoWindow["north"] != 10 {
		t.Errorf("sample list: %+v", list.Report)
	}
	dnc, err := ReadDNC(s.DNC, crm.NumberPlan{})
	if err != nil || dnc.Len() != 2 || !dnc.Has("13800000009") {
		t.Errorf("sample dnc: %v %v", dnc, err)
	}
}
