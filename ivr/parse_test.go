package ivr

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Each case is one flow with one mistake; the error must name file, line
// and node so an operator can go straight to it.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		node      string // "" = a file-level error
		msg       string
	}{
		{"unknown node reference", `
nodes:
  a: {type: play, prompt: hi, next: nowhere}
`, 3, "a", `next refers to unknown node "nowhere"`},
		{"unreachable node", `
nodes:
  a: {type: hangup}
  orphan: {type: hangup}
`, 4, "orphan", `unreachable from start node "a"`},
		{"menu option without target", `
nodes:
  m:
    type: menu
    prompt: menu
    options:
      "1":
    default: m2
  m2: {type: hangup}
`, 7, "m", `menu option "1" has no target node`},
		{"menu option that is not a digit", `
nodes:
  m:
    type: menu
    prompt: menu
    options: {"12": b}
    default: b
  b: {type: hangup}
`, 6, "m", `menu option "12" is not a digit`},
		{"loop that never waits for input", `
nodes:
  a: {type: play, prompt: hi, next: b}
  b: {type: set, vars: {x: "1"}, next: c}
  c:
    type: branch
    rules:
      - {tier: gold, goto: d}
    default: a
  d: {type: hangup}
`, 9, "c", `default to "a" closes a loop that never waits for input`},
		{"self loop", `
nodes:
  a: {type: set, vars: {x: "1"}, next: a}
`, 3, "a", `closes a loop that never waits for input`},
		{"unknown node type", `
nodes:
  a: {type: dance, next: a}
`, 3, "a", `unknown node type "dance"`},
		{"node without type", `
nodes:
  a: {next: a}
`, 3, "a", `node has no type`},
		{"unknown field", `
nodes:
  a:
    type: play
    prompt: hi
    nxet: b
    next: b
  b: {type: hangup}
`, 6, "a", `unknown field "nxet" for a play node`},
		{"unknown top-level field", `
nodes:
  a: {type: hangup}
version: 2
`, 4, "", `unknown field "version"`},
		{"bad regexp", `
nodes:
  a:
    type: collect
    var: acct
    pattern: '[0-9'
    next: b
    failure: b
  b: {type: hangup}
`, 6, "a", `bad pattern "[0-9"`},
		{"bad caller pattern in a rule", `
nodes:
  a:
    type: branch
    rules:
      - {caller: '(', goto: b}
    default: b
  b: {type: hangup}
`, 6, "a", `bad pattern "("`},
		{"bad duration", `
nodes:
  a:
    type: menu
    prompt: menu
    options: {"1": b}
    timeout: soon
    default: b
  b: {type: hangup}
`, 7, "a", `bad duration "soon"`},
		{"missing required field", `
nodes:
  a: {type: play, prompt: hi}
`, 3, "a", `play node needs "next"`},
		{"collect max below min", `
nodes:
  a: {type: collect, var: x, min: 6, max: 4, next: b, failure: b}
  b: {type: hangup}
`, 3, "a", `max (4) is less than min (6)`},
		{"bad variable name", `
nodes:
  a: {type: collect, var: "1x", next: b, failure: b}
  b: {type: hangup}
`, 3, "a", `bad variable name "1x"`},
		{"lookup by something else", `
nodes:
  a: {type: lookup, by: email, next: b}
  b: {type: hangup}
`, 3, "a", `lookup by "email"`},
		{"unknown calendar", `
nodes:
  a:
    type: branch
    rules:
      - {open: office, goto: b}
    default: b
  b: {type: hangup}
`, 6, "a", `unknown calendar "office"`},
		{"bad calendar hours", `
calendars:
  office:
    hours: {mon-fri: "9-5"}
nodes:
  a: {type: hangup}
`, 4, "", `calendar "office": time "9": want HH:MM`},
		{"bad timezone", `
calendars:
  office:
    timezone: Mars/Olympus
nodes:
  a: {type: hangup}
`, 4, "", `calendar "office": bad timezone`},
		{"rule without goto", `
nodes:
  a:
    type: branch
    rules:
      - {tier: gold}
    default: b
  b: {type: hangup}
`, 6, "a", `rule has no goto`},
		{"overflow without max wait", `
nodes:
  q: {type: queue, queue: general, overflow: b, next: b}
  b: {type: hangup}
`, 3, "q", `overflow is set but max_wait is not`},
		{"max wait without overflow", `
nodes:
  q: {type: queue, queue: general, max_wait: 2m}
`, 3, "q", `queue node needs "overflow"`},
		{"leave digit without voicemail", `
nodes:
  q: {type: queue, queue: general, leave_digit: "*"}
`, 3, "q", `queue node needs "voicemail"`},
		{"bad leave digit", `
nodes:
  q: {type: queue, queue: general, leave_digit: x, voicemail: q}
`, 3, "q", `bad digit "x"`},
		{"transfer with two targets", `
nodes:
  t: {type: transfer, agent: "1001", flow: other}
`, 3, "t", `more than one target`},
		{"trunk on an internal transfer", `
nodes:
  t: {type: transfer, agent: "1001", trunk: carrier}
`, 3, "t", `trunk is only for external transfers`},
		{"say without value", `
nodes:
  s: {type: say, next: b}
  b: {type: hangup}
`, 3, "s", `exactly one of "digits", "number", "money" or "duration"`},
		{"unknown start node", `
start: begin
nodes:
  a: {type: hangup}
`, 2, "", `start node "begin" does not exist`},
		{"duplicate key", `
nodes:
  a: {type: hangup, reason: x, reason: y}
`, 3, "a", `duplicate key "reason"`},
		{"retries out of range", `
nodes:
  m: {type: menu, prompt: menu, options: {"1": m}, retries: 0, default: m}
`, 3, "m", `bad number "0"`},
		// The YAML library reports the line where the broken construct starts.
		{"invalid YAML", "nodes:\n  a: {type: hangup\n  b: x\n", 1, "", `invalid YAML: line 1: did not find expected ',' or '}'`},
		{"tab indentation", "nodes:\n\ta: {type: hangup}\n", 2, "", `invalid YAML: line 2: found character that cannot start any token`},
		{"not a mapping", "- a\n- b\n", 1, "", `a flow must be a mapping`},
		{"no nodes", "name: x\n", 1, "", `flow has no nodes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFlow("flows/bad.yaml", []byte(tc.src), LoadOptions{})
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("err = %v, want an ErrorList", err)
			}
			want := "flows/bad.yaml:" + strconv.Itoa(tc.line) + ": "
			if tc.node != "" {
				want += `node "` + tc.node + `": `
			}
			for _, e := range list {
				if strings.HasPrefix(e.Error(), want) && strings.Contains(e.Error(), tc.msg) {
					return
				}
			}
			t.Errorf("errors:\n%v\nwant one starting %q containing %q", err, want, tc.msg)
		})
	}
}

func TestMissingPromptFiles(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "en", "hello.wav"), []byte("RIFF"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `
nodes:
  a: {type: play, prompts: [hello, missing], next: b}
  b: {type: say, digits: "123", next: c}
  c: {type: hangup, prompt: "../../etc/passwd"}
`
	_, err := ParseFlow("f.yaml", []byte(src), LoadOptions{PromptRoot: root})
	for _, want := range []string{
		`f.yaml:3: node "a": prompt "missing" not found`,
		`f.yaml:4: node "b": prompt "num/1" not found`,
		`f.yaml:5: node "c": bad prompt name "../../etc/passwd"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), `"hello"`) {
		t.Errorf("hello.wav exists but was reported: %v", err)
	}
}

func TestAllErrorsOfAFileAreReported(t *testing.T) {
	src := `
nodes:
  a: {type: play, prompt: hi, next: b, colour: red}
  b: {type: menu, prompt: m, options: {"1": nowhere}, default: c, timeout: later}
  c: {type: hangup}
  d: {type: hangup}
`
	_, err := ParseFlow("f.yaml", []byte(src), LoadOptions{})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("got %d errors, want 4 (unknown field, bad duration, unknown node, unreachable):\n%v", len(list), err)
	}
}

func TestParseDefaults(t *testing.T) {
	f := mustParse(t, `
nodes:
  l: {type: lookup, next: q}
  q: {type: queue, queue: general}
`)
	l, q := f.Nodes["l"], f.Nodes["q"]
	if f.Name != "test" || f.Start != "l" || f.Language != "en" {
		t.Errorf("flow name %q start %q language %q", f.Name, f.Start, f.Language)
	}
	if l.Timeout != 300*time.Millisecond || l.DefaultTier != "normal" || l.By != "caller" {
		t.Errorf("lookup defaults %+v", l)
	}
	if q.Tier != "${tier}" || q.MOH != "moh" || q.AnnounceAgent != "agent" {
		t.Errorf("queue defaults %+v", q)
	}
}

func TestMissingPromptReportedOncePerFlow(t *testing.T) {
	src := `
nodes:
  a: {type: say, digits: "1", next: b}
  b: {type: say, number: "2", next: c}
  c: {type: hangup}
`
	_, err := ParseFlow("f.yaml", []byte(src), LoadOptions{PromptRoot: t.TempDir()})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != len(numberFragments) {
		t.Fatalf("got %d errors, want one per missing number fragment (%d):\n%v", len(list), len(numberFragments), err)
	}
}
