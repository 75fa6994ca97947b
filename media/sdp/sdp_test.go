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
			d, err := Parse([]byte(tc.body))
			var a Answer
			if err == nil {
				a, err = Negotiate(d, Policy{Formats: prefs})
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
	d, err := Parse(body)
	if err != nil {
		t.Fatalf("parse own SDP: %v\n%s", err, body)
	}
	s := d.Streams[0]
	if s.Addr != addr || s.Port != 20000 || s.Direction != SendOnly || s.PTime != 20 {
		t.Fatalf("round trip = %+v", s)
	}
	if len(s.Formats) != 3 || s.Formats[0].Name != "PCMA" || s.Formats[2].Name != "telephone-event" {
		t.Fatalf("formats = %+v", s.Formats)
	}
	if !strings.HasPrefix(d.Origin, "hotline 42 2 IN IP4") {
		t.Fatalf("origin = %q", d.Origin)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sippOffer))
	f.Add([]byte(sippOffer + "a=sendonly\r\n"))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(body)
		if err != nil {
			if d != nil {
				t.Fatal("description returned with error")
			}
			return
		}
		a, err := Negotiate(d, Policy{Formats: prefs, Suites: suites})
		if err != nil {
			return
		}
		// Whatever we accepted must survive our own writer and reader, with
		// one m= line per offered stream.
		l := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: 20000, SessionID: 1, Version: 1,
			Formats: []Format{{PT: a.Codec.PT, Name: a.Codec.Name, Rate: a.Codec.Rate}}, DTMF: a.DTMF, DTMFEvents: a.DTMFEvents, Dir: a.Direction}
		out := l.AnswerTo(d, a.Index)
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("own answer unparsable: %v\n%s", err, out)
		}
		if len(back.Streams) != len(d.Streams) || back.Streams[a.Index].Port != 20000 {
			t.Fatalf("answer has %d streams for %d offered:\n%s", len(back.Streams), len(d.Streams), out)
		}
	})
}

var suites = []string{"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"}

const (
	sess      = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	audio     = "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
	crypto80  = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n"
	crypto32  = "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n"
	cryptoF8  = "a=crypto:1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm\r\n"
	savpAudio = "m=audio 6000 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
)

// TestOfferAnswerRFC3264 checks answers against RFC 3264 §6 (one m= line
// per offered stream, declined ones with port 0, the format list kept),
// RFC 4733 (the event range echoed) and RFC 4568 (SAVP answered SAVP with
// one crypto line of the offered tag, or refused — never downgraded).
func TestOfferAnswerRFC3264(t *testing.T) {
	tests := []struct {
		name   string
		offer  string
		policy SRTPPolicy
		// wantErr, or the answer's m= lines and attribute lines that must
		// (or with "!" must not) appear.
		wantErr   error
		wantIndex int
		wantM     []string
		wantLines []string
	}{
		{name: "one audio stream", offer: sess + audio, wantM: []string{"m=audio 20000 RTP/AVP 0 101"}, wantLines: []string{"a=fmtp:101 0-15", "!a=crypto"}},
		{name: "first audio port 0, second valid", offer: sess + "m=audio 0 RTP/AVP 0\r\n" + strings.Replace(audio, "6000", "6002", 1),
			wantIndex: 1, wantM: []string{"m=audio 0 RTP/AVP 0", "m=audio 20000 RTP/AVP 0 101"}},
		{name: "audio and video: video declined", offer: sess + audio + "m=video 7000 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\n",
			wantM: []string{"m=audio 20000 RTP/AVP 0 101", "m=video 0 RTP/AVP 96"}},
		{name: "video first", offer: sess + "m=video 7000 RTP/AVP 96\r\n" + audio, wantIndex: 1, wantM: []string{"m=video 0 RTP/AVP 96", "m=audio 20000 RTP/AVP 0 101"}},
		{name: "two audio streams: the first taken, the second declined", offer: sess + audio + strings.Replace(audio, "6000", "6002", 1),
			wantM: []string{"m=audio 20000 RTP/AVP 0 101", "m=audio 0 RTP/AVP 0"}},
		{name: "non-RTP stream declined with its format", offer: sess + audio + "m=application 9 UDP/BFCP *\r\n",
			wantM: []string{"m=audio 20000 RTP/AVP 0 101", "m=application 0 UDP/BFCP *"}},
		{name: "event range 0-16 echoed", offer: sess + strings.Replace(audio, "0-15", "0-16", 1), wantM: []string{"m=audio 20000 RTP/AVP 0 101"}, wantLines: []string{"a=fmtp:101 0-16"}},
		{name: "no event range offered: none answered", offer: sess + "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			wantM: []string{"m=audio 20000 RTP/AVP 0 101"}, wantLines: []string{"!a=fmtp"}},
		{name: "SAVP, SRTP optional: SAVP with crypto", offer: sess + savpAudio + crypto80, wantM: []string{"m=audio 20000 RTP/SAVP 0 101"}, wantLines: []string{"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"}},
		{name: "SAVP, our preferred suite second", offer: sess + savpAudio + crypto32 + crypto80, wantM: []string{"m=audio 20000 RTP/SAVP 0 101"}, wantLines: []string{"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:", "!a=crypto:2"}},
		{name: "SAVP, SRTP off: 488", offer: sess + savpAudio + crypto80, policy: SRTPOff, wantErr: ErrSRTPRefused},
		{name: "SAVP without a usable suite: 488", offer: sess + savpAudio + cryptoF8, wantErr: ErrSRTPRequired},
		{name: "SAVP without crypto: 488", offer: sess + savpAudio, wantErr: ErrSRTPRequired},
		{name: "plain AVP, SRTP required: 488", offer: sess + audio, policy: SRTPRequired, wantErr: ErrSRTPRequired},
		{name: "AVP with crypto (best effort), SRTP required: encrypted", offer: sess + audio + crypto80, policy: SRTPRequired,
			wantM: []string{"m=audio 20000 RTP/AVP 0 101"}, wantLines: []string{"a=crypto:1 AES_CM_128_HMAC_SHA1_80"}},
		{name: "AVP with crypto, SRTP off: plain", offer: sess + audio + crypto80, policy: SRTPOff, wantM: []string{"m=audio 20000 RTP/AVP 0 101"}, wantLines: []string{"!a=crypto"}},
		{name: "SAVP refused but plain AVP offered too", offer: sess + savpAudio + crypto80 + strings.Replace(audio, "6000", "6002", 1), policy: SRTPOff,
			wantIndex: 1, wantM: []string{"m=audio 0 RTP/SAVP 0", "m=audio 20000 RTP/AVP 0 101"}},
		{name: "only video: 488", offer: sess + "m=video 7000 RTP/AVP 96\r\n", wantErr: ErrNoAudio},
		{name: "only audio port 0: 488", offer: sess + "m=audio 0 RTP/AVP 0\r\n", wantErr: ErrNoAudio},
		{name: "DTLS-SRTP (WebRTC) only: 488", offer: sess + "m=audio 6000 UDP/TLS/RTP/SAVPF 111\r\n", wantErr: ErrNoAudio},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse([]byte(tc.offer))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			a, err := Negotiate(d, Policy{Formats: prefs, SRTP: tc.policy, Suites: suites})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Index != tc.wantIndex {
				t.Fatalf("took stream %d, want %d", a.Index, tc.wantIndex)
			}
			l := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: 20000, SessionID: 1, Version: 1,
				Formats: []Format{a.Codec}, DTMF: a.DTMF, DTMFEvents: a.DTMFEvents, Dir: a.Direction}
			if a.Crypto != nil {
				l.Crypto = []Crypto{{Tag: a.Crypto.Tag, Suite: a.Crypto.Suite, Inline: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}
			}
			body := string(l.AnswerTo(d, a.Index))
			var ms []string
			for _, line := range strings.Split(body, "\r\n") {
				if strings.HasPrefix(line, "m=") {
					ms = append(ms, line)
				}
			}
			if strings.Join(ms, "|") != strings.Join(tc.wantM, "|") {
				t.Fatalf("m= lines %q, want %q\n%s", ms, tc.wantM, body)
			}
			for _, want := range tc.wantLines {
				if neg, ok := strings.CutPrefix(want, "!"); ok {
					if strings.Contains(body, neg) {
						t.Fatalf("answer has %q:\n%s", neg, body)
					}
				} else if !strings.Contains(body, want) {
					t.Fatalf("answer lacks %q:\n%s", want, body)
				}
			}
			// The answer is SDP we read back the same way.
			back, err := Parse([]byte(body))
			if err != nil || len(back.Streams) != len(d.Streams) {
				t.Fatalf("answer reparsed: %v", err)
			}
		})
	}
}

// TestLateOffer: an INVITE without SDP is answered with our offer in the
// 200 OK and the phone's answer arrives in the ACK; reading that answer
// with our own policy gives the stream to use.
func TestLateOffer(t *testing.T) {
	l := Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: 20000, SessionID: 7, Version: 1, Formats: prefs, DTMF: 101, Dir: SendRecv}
	offer := string(l.Offer())
	if !strings.Contains(offer, "m=audio 20000 RTP/AVP 8 0 101") || !strings.Contains(offer, "a=fmtp:101 0-16") {
		t.Fatalf("offer:\n%s", offer)
	}
	ack := sess + "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
	d, err := Parse([]byte(ack))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Negotiate(d, Policy{Formats: prefs})
	if err != nil || a.Codec.Name != "PCMU" || a.Remote.String() != "127.0.0.1:6000" || a.DTMF != 101 {
		t.Fatalf("answer read as %+v, %v", a, err)
	}
}

// TestSSRCAttribute: the first a=ssrc of the taken stream reaches the
// answer (RFC 5576); none, or an unreadable one, leaves it unset.
func TestSSRCAttribute(t *testing.T) {
	tests := []struct {
		name string
		body string
		want uint32
		has  bool
	}{
		{"announced", sippOffer + "a=ssrc:3735928559 cname:load\r\na=ssrc:12 cname:other\r\n", 3735928559, true},
		{"none", sippOffer, 0, false},
		{"not a number", sippOffer + "a=ssrc:x cname:load\r\n", 0, false},
		{"too large", sippOffer + "a=ssrc:4294967296\r\n", 0, false},
		{"session level ignored", strings.Replace(sippOffer, "t=0 0\r\n", "t=0 0\r\na=ssrc:5\r\n", 1), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			a, err := Negotiate(d, Policy{Formats: prefs})
			if err != nil {
				t.Fatal(err)
			}
			if a.SSRC != tc.want || a.HasSSRC != tc.has {
				t.Fatalf("SSRC %d (%v), want %d (%v)", a.SSRC, a.HasSSRC, tc.want, tc.has)
			}
		})
	}
}
