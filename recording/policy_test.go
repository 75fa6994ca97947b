package recording

import (
	"fmt"
	"testing"
)

func TestPolicy(t *testing.T) {
	tests := []struct {
		in      string
		percent int
		wantErr bool
	}{
		{"always", 100, false},
		{"never", 0, false},
		{"25%", 25, false},
		{" 100% ", 100, false},
		{"25", 0, true},
		{"150%", 0, true},
		{"sometimes", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePolicy(tc.in)
			if (err != nil) != tc.wantErr || (err == nil && p.Percent != tc.percent) {
				t.Fatalf("ParsePolicy(%q) = %+v, %v", tc.in, p, err)
			}
		})
	}
	p := Policy{Percent: 30}
	n := 0
	for i := range 10000 {
		id := fmt.Sprintf("call-%d", i)
		if p.Record(id) != p.Record(id) {
			t.Fatal("decision not stable for the same call")
		}
		if p.Record(id) {
			n++
		}
	}
	if n < 2700 || n > 3300 {
		t.Errorf("30%% policy recorded %d of 10000 calls", n)
	}
	if (Policy{}).Record("x") || !(Policy{Percent: 100}).Record("x") {
		t.Error("never/always wrong")
	}
}
