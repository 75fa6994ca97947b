package ivr

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func words(w []string) string {
	return strings.NewReplacer("num/", "", "money/", "", "time/", "").Replace(strings.Join(w, " "))
}

// Mandarin numbers as a native speaker reads them (the fragment per
// character): 一百零一, 一千零一十, 两千二百二十二, 十二万三千四百五十六.
func TestMandarinNumbers(t *testing.T) {
	cases := map[string]string{
		"0": "0", "7": "7", "10": "10", "12": "10 2", "20": "2 10", "25": "2 10 5",
		"100": "1 hundred", "101": "1 hundred 0 1", "110": "1 hundred 1 10", "115": "1 hundred 1 10 5",
		"200": "2 hundred", "1001": "1 thousand 0 1", "1010": "1 thousand 0 1 10", "1100": "1 thousand 1 hundred",
		"2000": "liang thousand", "2222": "liang thousand 2 hundred 2 10 2", "10000": "1 ten-thousand",
		"20000": "liang ten-thousand", "10500": "1 ten-thousand 0 5 hundred", "100010": "10 ten-thousand 0 1 10",
		"123456": "10 2 ten-thousand 3 thousand 4 hundred 5 10 6", "999999": "9 10 9 ten-thousand 9 thousand 9 hundred 9 10 9",
		"1000000": "1 0 0 0 0 0 0",
	}
	sp := speakerFor("zh")
	for in, want := range cases {
		w, ok := sp.number(in)
		if got := words(w); !ok || got != want {
			t.Errorf("zh number %s = %q, want %q", in, got, want)
		}
	}
	if _, ok := sp.number("-3"); ok {
		t.Error("zh number -3 accepted")
	}
	if got, _ := sp.digits("1001"); words(got) != "yao 0 0 yao" {
		t.Errorf("zh digits 1001 = %q, want yao 0 0 yao (phone-number reading)", words(got))
	}
	if got := words(sp.count(2)); got != "liang" {
		t.Errorf("zh count 2 = %q, want liang (两分钟)", got)
	}
	if got := words(sp.count(12)); got != "10 2" {
		t.Errorf("zh count 12 = %q", got)
	}
}

func TestMoneyAndDurations(t *testing.T) {
	cases := []struct {
		lang, kind, in, want string
	}{
		{"zh", "money", "12.05", "10 2 yuan 0 5 fen"},
		{"zh", "money", "12.50", "10 2 yuan 5 jiao"},
		{"zh", "money", "0.5", "5 jiao"},
		{"zh", "money", "-3", "minus 3 yuan"},
		{"zh", "money", "2.22", "liang yuan liang jiao liang fen"},
		{"zh", "money", "0", "0 yuan"},
		{"zh", "duration", "125", "liang minutes 5 seconds"},
		{"zh", "duration", "3605", "1 hours 0 5 seconds"},
		{"zh", "duration", "1h30m", "1 hours 3 10 minutes"},
		{"zh", "duration", "0", "0 seconds"},
		{"en", "money", "12.50", "12 yuan 50 fen"},
		{"en", "money", "0.05", "5 fen"},
		{"en", "money", "-1", "minus 1 yuan"},
		{"en", "duration", "61", "1 minute 1 second"},
		{"en", "duration", "1h2m", "1 hour 2 minutes"},
		{"en", "duration", "7200", "2 hours"},
	}
	for _, c := range cases {
		sp := speakerFor(c.lang)
		var w []string
		var ok bool
		if c.kind == "money" {
			w, ok = sp.money(c.in)
		} else {
			w, ok = sp.duration(c.in)
		}
		if got := words(w); !ok || got != c.want {
			t.Errorf("%s %s %s = %q (ok %v), want %q", c.lang, c.kind, c.in, got, ok, c.want)
		}
	}
	for _, bad := range []string{"", "abc", "1e5", "NaN", "Inf", "--1"} {
		if _, ok := speakerFor("zh").money(bad); ok {
			t.Errorf("money %q accepted", bad)
		}
	}
	for _, bad := range []string{"", "-5", "soon", "-1m"} {
		if _, ok := speakerFor("en").duration(bad); ok {
			t.Errorf("duration %q accepted", bad)
		}
	}
}

// A say node in a flow run in Mandarin plays the Mandarin fragments in
// order, from the zh prompt set, and every fragment any say needs is in
// the shipped set.
func TestSayInCallLanguage(t *testing.T) {
	src := `language: en
nodes:
  n: {type: say, number: "${amount}", next: m}
  m: {type: say, money: "${balance}", next: d}
  d: {type: say, duration: "${wait}", next: a}
  a: {type: say, digits: "${agent}", next: b}
  b: {type: hangup}
`
	f, err := ParseFlow("say.yaml", []byte(src), LoadOptions{PromptRoot: demoPrompts})
	if err != nil {
		t.Fatal(err)
	}
	leg := newLeg("100", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg.hangupCaller = cancel
	vars := map[string]string{"amount": "1234", "balance": "12.05", "wait": "125", "agent": "1001"}
	in := &Interpreter{Logger: quietLog, Prompts: PromptDir(demoPrompts)}
	if _, err := in.Run(ctx, f, &Call{ID: "c", Leg: leg, Language: "zh", Vars: vars}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range leg.playedNames() {
		rel, err := filepath.Rel(filepath.Join(demoPrompts, "zh"), p)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("played %s, not from the zh prompt set", p)
		}
		if _, err := os.Stat(p + ".wav"); err != nil {
			t.Errorf("fragment %s missing: %v", p, err)
		}
		got = append(got, strings.TrimSuffix(rel, ".wav"))
	}
	want := "1 thousand 2 hundred 3 10 4 | 10 2 yuan 0 5 fen | liang minutes 5 seconds | yao 0 0 yao"
	if g := words(got); g != strings.ReplaceAll(want, " |", "") {
		t.Fatalf("played %q, want %q", g, want)
	}
}

// The zh prompt set has every fragment the Mandarin speaker can ask for,
// and a flow validated against it finds nothing missing.
func TestMandarinPromptSetComplete(t *testing.T) {
	for _, lang := range []string{"en", "zh"} {
		sp := speakerFor(lang)
		for _, k := range []sayKind{sayNumberKind, sayMoneyKind, sayDurationKind} {
			for _, frag := range sp.fragments(k) {
				if _, err := os.Stat(filepath.Join(demoPrompts, lang, frag+".wav")); err != nil {
					t.Errorf("%s: %v", lang, err)
				}
			}
		}
	}
}

// An access number bound to a flow in another language is checked against
// that language's prompt set at load; a bad binding changes nothing.
func TestRegistryLanguagePerNumber(t *testing.T) {
	r := NewRegistry(LoadOptions{PromptRoot: demoPrompts})
	flows := "../testdata/flows"
	if err := r.LoadDirLanguages(flows, map[string]string{"10010": "main", "10011": "main"}, map[string]string{"10011": "zh"}); err != nil {
		t.Fatal(err)
	}
	if r.LanguageForNumber("10011") != "zh" || r.LanguageForNumber("10010") != "" {
		t.Fatalf("languages: 10011 %q, 10010 %q", r.LanguageForNumber("10011"), r.LanguageForNumber("10010"))
	}
	err := r.LoadDirLanguages(flows, map[string]string{"10011": "main"}, map[string]string{"10011": "fr", "10012": "zh"})
	if err == nil || !strings.Contains(err.Error(), `access number 10011 (fr): prompt "greeting" not found`) ||
		!strings.Contains(err.Error(), "10012, which is not bound") {
		t.Fatalf("bad languages accepted or badly reported: %v", err)
	}
	if r.LanguageForNumber("10011") != "zh" {
		t.Fatal("a refused load changed the bindings")
	}
	if err := r.Reload(); err != nil || r.LanguageForNumber("10011") != "zh" {
		t.Fatalf("reload lost the language: %v", err)
	}
}
