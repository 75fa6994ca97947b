// Package sdp parses, builds and negotiates the Session Description Protocol
// bodies (RFC 4566, offer/answer per RFC 3264) carried by INVITEs.
//
// Only what an audio-only telephony B2BUA needs is modelled: one audio
// stream, its address, payload formats, telephone-event and direction.
// Everything else in an offer is tolerated and ignored, because real phones
// and trunks send a great deal of it.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Direction is the media direction attribute of a stream.
type Direction string

// Directions as written in SDP.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Reverse returns the direction an answerer uses for an offered direction.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	default:
		return SendRecv
	}
}

// Format is one RTP payload format of the audio stream.
type Format struct {
	PT   uint8
	Name string // encoding name as in rtpmap, e.g. "PCMU", "telephone-event"
	Rate uint32
	Fmtp string
}

// Session is the part of a session description a telephony leg uses.
type Session struct {
	Origin    string // o= line value, kept so re-offers can reuse it
	Addr      netip.Addr
	Port      int // 0 means the stream was refused or disabled
	Formats   []Format
	Direction Direction
	PTime     int
}

// Errors a caller maps to SIP responses.
var (
	// ErrMalformed means the body is not SDP we can read: 400.
	ErrMalformed = errors.New("malformed SDP")
	// ErrNoAudio means the offer carries no usable audio stream: 488.
	ErrNoAudio = errors.New("no audio stream in SDP")
	// ErrNoCommonCodec means no offered codec is acceptable: 488.
	ErrNoCommonCodec = errors.New("no common codec")
)

// staticFormats are the RFC 3551 static payload types an offer may use without rtpmap.
var staticFormats = map[uint8]Format{
	0:  {PT: 0, Name: "PCMU", Rate: 8000},
	8:  {PT: 8, Name: "PCMA", Rate: 8000},
	3:  {PT: 3, Name: "GSM", Rate: 8000},
	9:  {PT: 9, Name: "G722", Rate: 8000},
	18: {PT: 18, Name: "G729", Rate: 8000},
}

// maxBody bounds what we are willing to parse; real audio offers are < 2 kB.
const maxBody = 16 * 1024

// Parse reads an SDP body and returns its first active audio stream.
func Parse(body []byte) (*Session, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), maxBody)
	}
	var (
		s           Session
		sessionAddr netip.Addr
		sessionDir  Direction
		inAudio     bool
		haveAudio   bool
		mediaAddr   netip.Addr
		mediaDir    Direction
		rtpmaps     = map[uint8]Format{}
		fmtps       = map[uint8]string{}
		pts         []uint8
		sawVersion  bool
	)
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	for i, raw := range lines {
		line := strings.TrimRight(raw, "\r ")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("%w: line %d %q is not type=value", ErrMalformed, i+1, truncate(line))
		}
		typ, val := line[0], line[2:]
		if !sawVersion {
			if typ != 'v' {
				return nil, fmt.Errorf("%w: first line must be v=", ErrMalformed)
			}
			if val != "0" {
				return nil, fmt.Errorf("%w: unsupported version %q", ErrMalformed, truncate(val))
			}
			sawVersion = true
			continue
		}
		switch typ {
		case 'o':
			if !haveAudio {
				s.Origin = val
			}
		case 'c':
			addr, err := parseConnection(val)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, i+1, err)
			}
			switch {
			case inAudio:
				mediaAddr = addr
			case !haveAudio:
				sessionAddr = addr
			}
		case 'm':
			if haveAudio {
				// A later stream (video, a second audio): the first audio stream wins.
				inAudio = false
				continue
			}
			fields := strings.Fields(val)
			if len(fields) < 4 {
				return nil, fmt.Errorf("%w: line %d: m= needs media, port, proto and formats", ErrMalformed, i+1)
			}
			if fields[0] != "audio" {
				inAudio = false
				continue
			}
			portStr, _, _ := strings.Cut(fields[1], "/")
			port, err := strconv.Atoi(portStr)
			if err != nil || port < 0 || port > 65535 {
				return nil, fmt.Errorf("%w: line %d: bad port %q", ErrMalformed, i+1, truncate(fields[1]))
			}
			if !strings.HasPrefix(fields[2], "RTP/") {
				// SRTP profiles (RTP/SAVP) are RTP/ too; anything else (e.g. UDP/TLS) is not ours.
				inAudio = false
				continue
			}
			pts = pts[:0]
			for _, f := range fields[3:] {
				n, err := strconv.Atoi(f)
				if err != nil || n < 0 || n > 127 {
					return nil, fmt.Errorf("%w: line %d: bad payload type %q", ErrMalformed, i+1, truncate(f))
				}
				pts = append(pts, uint8(n))
			}
			s.Port = port
			inAudio, haveAudio = true, true
		case 'a':
			name, value, _ := strings.Cut(val, ":")
			switch name {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				if inAudio {
					mediaDir = Direction(name)
				} else if !haveAudio {
					sessionDir = Direction(name)
				}
			case "rtpmap":
				if !inAudio {
					continue
				}
				f, err := parseRtpmap(value)
				if err != nil {
					return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, i+1, err)
				}
				rtpmaps[f.PT] = f
			case "fmtp":
				if !inAudio {
					continue
				}
				ptStr, params, _ := strings.Cut(value, " ")
				pt, err := strconv.Atoi(ptStr)
				if err != nil || pt < 0 || pt > 127 {
					return nil, fmt.Errorf("%w: line %d: bad fmtp payload type", ErrMalformed, i+1)
				}
				fmtps[uint8(pt)] = params
			case "ptime":
				if inAudio {
					if n, err := strconv.Atoi(strings.TrimSpace(value)); err == nil && n > 0 && n <= 200 {
						s.PTime = n
					}
				}
			}
		}
	}
	if !sawVersion {
		return nil, fmt.Errorf("%w: no v= line", ErrMalformed)
	}
	if !haveAudio {
		return nil, ErrNoAudio
	}
	for _, pt := range pts {
		f, ok := rtpmaps[pt]
		if !ok {
			f, ok = staticFormats[pt]
		}
		if !ok {
			f = Format{PT: pt}
		}
		f.Fmtp = fmtps[pt]
		s.Formats = append(s.Formats, f)
	}
	s.Addr = sessionAddr
	if mediaAddr.IsValid() {
		s.Addr = mediaAddr
	}
	if !s.Addr.IsValid() && s.Port != 0 {
		return nil, fmt.Errorf("%w: audio stream has no connection address", ErrMalformed)
	}
	s.Direction = SendRecv
	if sessionDir != "" {
		s.Direction = sessionDir
	}
	if mediaDir != "" {
		s.Direction = mediaDir
	}
	// RFC 3264 §8.4: an offer of c=0.0.0.0 means hold (old-style).
	if s.Addr.IsValid() && s.Addr.IsUnspecified() && s.Direction == SendRecv {
		s.Direction = SendOnly
	}
	return &s, nil
}

func parseConnection(val string) (netip.Addr, error) {
	f := strings.Fields(val)
	if len(f) < 3 || f[0] != "IN" {
		return netip.Addr{}, fmt.Errorf("bad c= line %q", truncate(val))
	}
	host, _, _ := strings.Cut(f[2], "/") // multicast TTL suffix
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("c= address %q is not an IP address", truncate(host))
	}
	if (f[1] == "IP4") != addr.Is4() {
		return netip.Addr{}, fmt.Errorf("c= address %q does not match %s", truncate(host), f[1])
	}
	return addr, nil
}

func parseRtpmap(v string) (Format, error) {
	ptStr, enc, ok := strings.Cut(v, " ")
	if !ok {
		return Format{}, fmt.Errorf("bad rtpmap %q", truncate(v))
	}
	pt, err := strconv.Atoi(ptStr)
	if err != nil || pt < 0 || pt > 127 {
		return Format{}, fmt.Errorf("bad rtpmap payload type %q", truncate(ptStr))
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || parts[0] == "" {
		return Format{}, fmt.Errorf("bad rtpmap encoding %q", truncate(enc))
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return Format{}, fmt.Errorf("bad rtpmap clock rate %q", truncate(parts[1]))
	}
	return Format{PT: uint8(pt), Name: parts[0], Rate: uint32(rate)}, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Answer is the outcome of negotiating an offer.
type Answer struct {
	Codec  Format // chosen audio codec
	DTMF   uint8  // telephone-event payload type, 0 when not offered
	Remote netip.AddrPort
	// Direction is what we answer: the reverse of the offered direction.
	Direction Direction
}

// Negotiate chooses, in our order of preference, the first codec the offer
// also carries, and telephone-event at 8 kHz when offered.
func Negotiate(offer *Session, prefs []Format) (Answer, error) {
	if offer == nil || offer.Port == 0 {
		return Answer{}, ErrNoAudio
	}
	var a Answer
	found := false
	for _, p := range prefs {
		for _, f := range offer.Formats {
			if strings.EqualFold(f.Name, p.Name) && f.Rate == p.Rate {
				a.Codec = Format{PT: f.PT, Name: p.Name, Rate: p.Rate}
				found = true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return Answer{}, ErrNoCommonCodec
	}
	for _, f := range offer.Formats {
		if strings.EqualFold(f.Name, "telephone-event") && f.Rate == 8000 {
			a.DTMF = f.PT
			break
		}
	}
	a.Remote = netip.AddrPortFrom(offer.Addr, uint16(offer.Port))
	a.Direction = offer.Direction.Reverse()
	return a, nil
}

// Build writes a session description for one audio stream.
// sessionID and version fill the o= line; bump version on every re-offer.
func Build(addr netip.Addr, port int, sessionID, version uint64, formats []Format, dtmfPT uint8, dir Direction) []byte {
	ipv := "IP4"
	if addr.Is6() && !addr.Is4In6() {
		ipv = "IP6"
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString("v=0\r\n")
	fmt.Fprintf(&b, "o=hotline %d %d IN %s %s\r\n", sessionID, version, ipv, addr)
	b.WriteString("s=hotline\r\n")
	fmt.Fprintf(&b, "c=IN %s %s\r\n", ipv, addr)
	b.WriteString("t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", port)
	for _, f := range formats {
		fmt.Fprintf(&b, " %d", f.PT)
	}
	if dtmfPT != 0 {
		fmt.Fprintf(&b, " %d", dtmfPT)
	}
	b.WriteString("\r\n")
	for _, f := range formats {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", f.PT, f.Name, f.Rate)
	}
	if dtmfPT != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmfPT, dtmfPT)
	}
	b.WriteString("a=ptime:20\r\n")
	if dir == "" {
		dir = SendRecv
	}
	fmt.Fprintf(&b, "a=%s\r\n", dir)
	return []byte(b.String())
}
