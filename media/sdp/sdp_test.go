package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const sippOffer = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"

var prefs = []Format{{PT: 8, Name: "PCMA", Rate: 8000}, {PT: 0, Name: "PCMU", Rate: 8000}}

func TestParseAndNegotiate(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantCodec string
		wantDTMF  uint8
		wantDir   Direction
		wantAddr  string
		wantErr   error
	}{
		{name: "sipp offer prefers PCMA", body: sippOffer, wantCodec: "PCMA", wantDTMF: 101, wantDir: SendRecv, wantAddr: "127.0.0.1:6000"},
		{name: "only PCMU", body: strings.Replace(sippOffer, "0 8 101", "0", 1), wantCodec: "PCMU", wantDir: SendRecv, wantAddr: "127.0.0.1:6000"},
		{name: "hold sendonly answered recvonly", body: sippOffer + "a=sendonly\r\n", wantCodec: "PCMA", wantDTMF: 101, wantDir: RecvOnly, wantAddr: "127.0.0.1:6000"},
		{name: "inactive", body: sippOffer + "a=inactive\r\n", wantCodec: "PCMA", wantDTMF: 101, wantDir: Inactive, wantAddr: "127.0.0.1:6000"},
		{name: "old style hold c=0.0.0.0", body: strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1), wantCodec: "PCMA", wantDTMF: 101, wantDir: RecvOnly, wantAddr: "0.0.0.0:6000"},
		{name: "media level c= wins", body: sippOffer + "c=IN IP4 127.0.0.2\r\n", wantCodec: "PCMA", wantDTMF: 101, wantDir: SendRecv, wantAddr: "127.0.0.2:6000"},
		{name: "LF only line endings", body: strings.ReplaceAll(sippOffer, "\r\n", "\n"), wantCodec: "PCMA", wantDTMF: 101, wantDir: SendRecv, wantAddr: "127.0.0.1:6000"},
		{name: "video first then audio", body: "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 7000 RTP/AVP 96\r\nm=audio 6002 RTP/AVP 0\r\n", wantCodec: "PCMU", wantDir: SendRecv, wantAddr: "127.0.0.1:6002"},
		{name: "ipv6", body: "v=0\r\no=x 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n", wantCodec: "PCMU", wantDir: SendRecv, wantAddr: "[::1]:6000"},
		{name: "no common codec", body: strings.Replace(sippOffer, "0 8 101", "18 101", 1), wantErr: ErrNoCommonCodec},
		{name: "no audio", body: "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 7000 RTP/AVP 96\r\n", wantErr: ErrNoAudio},
		{name: "empty", body: "", wantErr: ErrMalformed},
		{name: "not sdp", body: "hello world", wantErr: ErrMalformed},
		{name: "bad version", body: "v=1\r\n", wantErr: ErrMalformed},
		{name: "bad port", body: strings.Replace(sippOffer, "6000", "70000", 1), wantErr: ErrMalformed},
		{name: "bad payload type", body: strings.Replace(sippOffer, "0 8 101", "0 x", 1), wantErr: ErrMalformed},
		{name: "bad address", body: strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 host.example", 1), wantErr: ErrMalformed},
		{name: "address family mismatch", body: strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP6 127.0.0.1", 1), wantErr: ErrMalformed},
		{name: "bad rtpmap", body: sippOffer + "a=rtpmap:8 PCMA\r\n", wantErr: ErrMalformed},
		{name: "no connection", body: "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n", wantErr: ErrMalformed},
		{name: "oversized", body: sippOffer + strings.Repeat("a=x\r\n", 5000), wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.body))
			var a Answer
			if err == nil {
				a, err = Negotiate(s, prefs)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if a.Codec.Name != tc.wantCodec || a.DTMF != tc.wantDTMF || a.Direction != tc.wantDir || a.Remote.String() != tc.wantAddr {
				t.Fatalf("answer = %+v, want codec %s dtmf %d dir %s addr %s", a, tc.wantCodec, tc.wantDTMF, tc.wantDir, tc.wantAddr)
			}
		})
	}
}

func TestBuildRoundTrip(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	body := Build(addr, 20000, 42, 2, prefs, 101, SendOnly)
	s, err := Parse(body)
	if err != nil {
		t.Fatalf("parse own SDP: %v\n%s", err, body)
	}
	if s.Addr != addr || s.Port != 20000 || s.Direction != SendOnly || s.PTime != 20 {
		t.Fatalf("round trip = %+v", s)
	}
	if len(s.Formats) != 3 || s.Formats[0].Name != "PCMA" || s.Formats[2].Name != "telephone-event" {
		t.Fatalf("formats = %+v", s.Formats)
	}
	if !strings.HasPrefix(s.Origin, "hotline 42 2 IN IP4") {
		t.Fatalf("origin = %q", s.Origin)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sippOffer))
	f.Add([]byte(sippOffer + "a=sendonly\r\n"))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := Parse(body)
		if err != nil {
			if s != nil {
				t.Fatal("session returned with error")
			}
			return
		}
		a, err := Negotiate(s, prefs)
		if err != nil {
			return
		}
		// Whatever we accepted must survive our own writer and reader.
		out := Build(netip.MustParseAddr("127.0.0.1"), 20000, 1, 1, []Format{{PT: a.Codec.PT, Name: a.Codec.Name, Rate: a.Codec.Rate}}, a.DTMF, a.Direction)
		if _, err := Parse(out); err != nil {
			t.Fatalf("own answer unparsable: %v\n%s", err, out)
		}
	})
}
