package redisstore

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hotlinecc/hotline/routing/crm"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   crm.Customer
		want crm.Customer // what Get hands back
	}{
		{"ID defaults to the number",
			crm.Customer{Number: "13800000001", Name: "Demo", Tier: "gold"},
			crm.Customer{ID: "13800000001", Number: "13800000001", Name: "Demo", Tier: "gold", Source: crm.SourceStore}},
		{"ID equal to the number is not stored twice",
			crm.Customer{ID: "+442079460000", Number: "+442079460000", Tier: "silver", Blacklisted: true},
			crm.Customer{ID: "+442079460000", Number: "+442079460000", Tier: "silver", Blacklisted: true, Source: crm.SourceStore}},
		{"all fields",
			crm.Customer{ID: "C-7", Number: "13800000007", Name: "Zoë Ünïcode", Tier: "diamond", Region: "north",
				Attributes: map[string]string{"plan": "unlimited", "": "empty key", "note": ""}},
			crm.Customer{ID: "C-7", Number: "13800000007", Name: "Zoë Ünïcode", Tier: "diamond", Region: "north",
				Attributes: map[string]string{"plan": "unlimited", "": "empty key", "note": ""}, Source: crm.SourceStore}},
		{"Source and Degraded are not stored",
			crm.Customer{Number: "13800000008", Tier: "gold", Source: crm.SourceLive, Degraded: true},
			crm.Customer{ID: "13800000008", Number: "13800000008", Tier: "gold", Source: crm.SourceStore}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeRecord(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRecord(tt.in.Number, b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("round trip = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	long := strings.Repeat("x", maxField+1)
	tests := []struct {
		name string
		c    crm.Customer
		want error
	}{
		{"empty number", crm.Customer{Tier: "gold"}, crm.ErrMalformedNumber},
		{"national form with spaces", crm.Customer{Number: "+86 138"}, crm.ErrMalformedNumber},
		{"lone plus", crm.Customer{Number: "+"}, crm.ErrMalformedNumber},
		{"18 digits", crm.Customer{Number: "123456789012345678"}, crm.ErrMalformedNumber},
		{"name too long", crm.Customer{Number: "13800000001", Name: long}, nil},
		{"attribute too long", crm.Customer{Number: "13800000001", Attributes: map[string]string{"k": long}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeRecord(tt.c)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("encodeRecord = %v, want %v", err, tt.want)
			}
		})
	}
}

// Every truncation or single-byte damage of a record decodes to a clean
// error or a customer, never a panic or a huge allocation.
func TestDecodeDamagedRecords(t *testing.T) {
	b, err := encodeRecord(crm.Customer{ID: "C-7", Number: "13800000007", Name: "Demo", Tier: "gold",
		Region: "north", Attributes: map[string]string{"plan": "unlimited"}})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := decodeRecord("13800000007", b[:n]); !errors.Is(err, errCorrupt) {
			t.Fatalf("record cut to %d bytes: %v, want errCorrupt", n, err)
		}
	}
	for i := range b {
		for _, v := range []byte{0, 0x7f, 0x80, 0xff} {
			d := append([]byte(nil), b...)
			d[i] = v
			decodeRecord("13800000007", d) // must not panic
		}
	}
	if _, err := decodeRecord("13800000007", append(append([]byte(nil), b...), 0)); !errors.Is(err, errCorrupt) {
		t.Fatalf("trailing byte: %v, want errCorrupt", err)
	}
}
