package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func strategyByName(t *testing.T, name string) strategy {
	t.Helper()
	for _, s := range strategies() {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no strategy %q", name)
	return strategy{}
}

// The README's story on the default scenario: FIFO misses the top tier,
// strict priority starves the lowest tier, the default gap rule keeps the
// worst tier closest to its target.
func TestDefaultScenarioStory(t *testing.T) {
	sc := defaultScenario(defaultParams())
	peak := map[string][]tierStats{}
	for _, name := range []string{"fifo", "strict", "gap-rel"} {
		r, err := simulate(sc, strategyByName(t, name))
		if err != nil {
			t.Fatal(err)
		}
		peak[name] = r.stats(sc, sc.peakStart, sc.peakEnd)
		total := 0
		for _, s := range r.stats(sc, 0, sc.day) {
			total += s.offered
		}
		if total != len(sc.arrivals) {
			t.Fatalf("%s: %d callers accounted for, %d arrived", name, total, len(sc.arrivals))
		}
	}
	const diamond, normal = 0, 3
	if !(peak["fifo"][diamond].sl() < peak["gap-rel"][diamond].sl()) {
		t.Errorf("FIFO diamond %.3f not below gap-rel %.3f", peak["fifo"][diamond].sl(), peak["gap-rel"][diamond].sl())
	}
	if !(peak["strict"][normal].sl() < peak["gap-rel"][normal].sl()) {
		t.Errorf("strict normal %.3f not below gap-rel %.3f", peak["strict"][normal].sl(), peak["gap-rel"][normal].sl())
	}
	gp, _, _ := shortfall(sc, peak["gap-rel"])
	for _, other := range []string{"fifo", "strict"} {
		if op, _, _ := shortfall(sc, peak[other]); !(gp < op) {
			t.Errorf("gap-rel worst shortfall %.3f not below %s's %.3f", gp, other, op)
		}
	}
}

func TestSameSeedSameArrivals(t *testing.T) {
	p := defaultParams()
	p.seed, p.agents = 7, 20
	a, b := defaultScenario(p), defaultScenario(p)
	if len(a.arrivals) == 0 || len(a.arrivals) != len(b.arrivals) || a.arrivals[len(a.arrivals)-1] != b.arrivals[len(b.arrivals)-1] {
		t.Fatal("same seed gave different arrivals")
	}
	p.seed = 8
	if c := defaultScenario(p); len(c.arrivals) == len(a.arrivals) && c.arrivals[0] == a.arrivals[0] {
		t.Fatal("different seed gave the same arrivals")
	}
}

func TestRunWritesReportAndSVG(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "sl.svg")
	var out bytes.Buffer
	err := run([]string{"-agents", "20", "-seeds", "1", "-strategies", "fifo,gap-rel", "-svg", svg}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WHOLE DAY", "PEAK HOUR", "SUMMARY", "fifo", "gap-rel", "diamond", "normal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 2*4 {
		t.Fatalf("%d SL lines, want 2 strategies × 4 tiers", polylines)
	}
	if err := run([]string{"-strategies", "nope", "-svg", ""}, io.Discard); err == nil {
		t.Fatal("unknown strategy accepted")
	}
}
