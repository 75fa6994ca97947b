package ivr

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseFlow: any input yields a flow or an error, never a panic, and a
// flow that loads is internally consistent.
func FuzzParseFlow(f *testing.F) {
	files, _ := filepath.Glob("../testdata/flows/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "nodes:", "- 1", "nodes: {a: {type: hangup}}", "nodes: &x {a: *x}",
		"nodes:\n  a: {type: menu, prompt: m, options: {\"1\": a}, default: a}\n",
		"nodes:\n  a: {type: branch, rules: [{tier: [x], goto: a}], default: b}\n  b: {type: hangup}\n",
		"calendars: {c: {hours: {mon-sun: \"00:00-24:00\"}, holidays: [2026-01-01]}}\nnodes: {a: {type: hangup}}\n",
		queueSrc, "nodes:\n  a: {type: collect, var: x, pattern: '(', next: a, failure: a}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := ParseFlow("fuzz.yaml", data, LoadOptions{})
		if (fl == nil) == (err == nil) {
			t.Fatalf("flow %v and error %v: want exactly one", fl, err)
		}
		if fl == nil {
			return
		}
		if fl.Nodes[fl.Start] == nil {
			t.Fatalf("start %q is not a node", fl.Start)
		}
		for id, nd := range fl.Nodes {
			for _, r := range nd.refs {
				if fl.Nodes[r.target] == nil {
					t.Fatalf("node %q refers to missing %q", id, r.target)
				}
			}
		}
	})
}
