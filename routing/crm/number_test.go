package crm

import (
	"errors"
	"testing"
)

func TestNormalise(t *testing.T) {
	tests := []struct {
		name string
		plan NumberPlan
		in   string
		want string
	}{
		{"national mobile", NumberPlan{}, "13800000001", "13800000001"},
		{"plus country code", NumberPlan{}, "+8613800000001", "13800000001"},
		{"00 international prefix", NumberPlan{}, "008613800000001", "13800000001"},
		{"bare country code before mobile", NumberPlan{}, "8613800000001", "13800000001"},
		{"trunk prefix before mobile", NumberPlan{}, "013800000001", "13800000001"},
		{"spaces dashes parentheses", NumberPlan{}, "+86 (138) 0000-0001", "13800000001"},
		{"landline with trunk prefix", NumberPlan{}, "010-6552 9988", "1065529988"},
		{"landline international with bracketed trunk", NumberPlan{}, "+86 (0)10 6552 9988", "1065529988"},
		{"landline international", NumberPlan{}, "+861065529988", "1065529988"},
		{"service number", NumberPlan{}, "10086", "10086"},
		{"foreign number keeps country code", NumberPlan{}, "+44 20 7946 0000", "+442079460000"},
		{"foreign number with 00", NumberPlan{}, "00442079460000", "+442079460000"},
		{"canonical foreign is stable", NumberPlan{}, "+442079460000", "+442079460000"},
		{"country code repeated before mobile", NumberPlan{}, "+86 86 138 0000 0001", "13800000001"},
		{"trunk and bare country code before mobile", NumberPlan{}, "08610000000000", "10000000000"},
		{"86-prefixed landline is not stripped", NumberPlan{}, "8612345678", "8612345678"},
		{"configured country code", NumberPlan{CountryCode: "44", MobilePrefix: "7", MobileDigits: 10}, "+44 7700 900123", "7700900123"},
		{"configured country code, trunk", NumberPlan{CountryCode: "44", MobilePrefix: "7", MobileDigits: 10}, "07700 900123", "7700900123"},
		{"configured country code, Chinese number is foreign", NumberPlan{CountryCode: "44"}, "+8613800000001", "+8613800000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.plan.Normalise(tt.in)
			if err != nil {
				t.Fatalf("Normalise(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Normalise(%q) = %q, want %q", tt.in, got, tt.want)
			}
			again, err := tt.plan.Normalise(got)
			if err != nil || again != got {
				t.Fatalf("Normalise not idempotent: %q → %q, %v", got, again, err)
			}
		})
	}
}

func TestNormaliseRejects(t *testing.T) {
	for _, in := range []string{"", "  ", "anonymous", "1380000000a", "+", "00", "123", "0123", "+44123", "1234567890123456", "+4412345678901234", "13800000001;user=phone", "+86000000", "+86 0 0 1234567"} {
		t.Run(in, func(t *testing.T) {
			got, err := NumberPlan{}.Normalise(in)
			if !errors.Is(err, ErrMalformedNumber) {
				t.Fatalf("Normalise(%q) = %q, %v; want ErrMalformedNumber", in, got, err)
			}
		})
	}
}

func TestNumberKeyRoundTrip(t *testing.T) {
	for _, n := range []string{"13800000001", "10086", "0000012", "+442079460000", "+8613800000001"} {
		k, ok := numberKey(n)
		if !ok {
			t.Fatalf("numberKey(%q) failed", n)
		}
		if got := keyNumber(k); got != n {
			t.Fatalf("keyNumber(numberKey(%q)) = %q", n, got)
		}
	}
	a, _ := numberKey("13800000001")
	b, _ := numberKey("+13800000001")
	if a == b {
		t.Fatal("home and foreign forms share a key")
	}
	for _, bad := range []string{"", "+", "12a", "123456789012345678"} {
		if _, ok := numberKey(bad); ok {
			t.Fatalf("numberKey(%q) accepted", bad)
		}
	}
}

func TestPrefixTable(t *testing.T) {
	tab, err := NewPrefixTable(map[string]string{
		"138000000":  "north",
		"1380000001": "south", // longer prefix wins inside the north block
		"139":        "east",
		"10":         "beijing",
		"+44":        "uk",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number, want string
		ok           bool
	}{
		{"13800000001", "north", true},
		{"13800000009", "north", true},
		{"13800000012", "south", true},
		{"13912345678", "east", true},
		{"1065529988", "beijing", true},
		{"+442079460000", "uk", true},
		{"13700000000", "", false},
		{"1", "", false},
	}
	for _, tt := range tests {
		got, ok := tab.Region(tt.number)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Region(%q) = %q, %v; want %q, %v", tt.number, got, ok, tt.want, tt.ok)
		}
	}
	var nilTab *PrefixTable
	if r, ok := nilTab.Region("13800000001"); ok || r != "" {
		t.Errorf("nil table matched %q", r)
	}
	for _, bad := range []map[string]string{{"13a": "x"}, {"": "x"}, {"138": " "}, {"+": "x"}} {
		if _, err := NewPrefixTable(bad); err == nil {
			t.Errorf("NewPrefixTable(%v) accepted", bad)
		}
	}
}

// FuzzNormalise checks that no input panics, every accepted number is a
// valid store key, and normalising twice changes nothing.
func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"13800000001", "+8613800000001", "008613800000001", "(010) 6552-9988", "+44 20 7946 0000", "anonymous", "+", "0", "8613800000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NumberPlan{}.Normalise(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedNumber) {
				t.Fatalf("Normalise(%q) error %v does not wrap ErrMalformedNumber", in, err)
			}
			return
		}
		k, ok := numberKey(got)
		if !ok || keyNumber(k) != got {
			t.Fatalf("Normalise(%q) = %q, not a round-tripping store key", in, got)
		}
		again, err := NumberPlan{}.Normalise(got)
		if err != nil || again != got {
			t.Fatalf("Normalise(%q) = %q, then %q, %v", in, got, again, err)
		}
	})
}
