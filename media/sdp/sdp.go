// Package sdp parses, builds and negotiates the Session Description Protocol
// bodies (RFC 4566) carried by INVITEs, with offer/answer per RFC 3264 and
// SDES crypto attributes per RFC 4568.
//
// Every m= line of an offer is kept (Description.Streams) so the answer can
// carry one m= line per offered stream, in order, as RFC 3264 §6 requires:
// the one audio stream the engine takes gets its port, every other stream
// (video, a second audio, a profile we cannot do) is declined with port 0.
// Attributes the engine has no use for are tolerated and ignored, because
// real phones and trunks send a great deal of them.
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

// Crypto is one SDES a=crypto attribute (RFC 4568 §9.1).
type Crypto struct {
	Tag   int
	Suite string // e.g. AES_CM_128_HMAC_SHA1_80
	// Inline is the key parameter after "inline:" (base64 key‖salt, with
	// any |lifetime|MKI suffix).
	Inline string
}

func (c Crypto) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite, c.Inline)
}

// Stream is one m= line and its attributes.
type Stream struct {
	Media     string   // audio, video, ...
	Port      int      // 0: the stream is declined or disabled
	Proto     string   // RTP/AVP, RTP/SAVP, ...
	Fmts      []string // the format list as written
	Formats   []Format // RTP payload formats (RTP profiles only)
	Addr      netip.Addr
	Direction Direction
	PTime     int
	Crypto    []Crypto
	// SSRC is the first source the stream announced with a=ssrc (RFC
	// 5576), when HasSSRC: on a shared port it tells this call's packets
	// from others' sent from the same address.
	SSRC    uint32
	HasSSRC bool
}

// RTP reports whether the stream is RTP over UDP in a profile the engine
// can answer (AVP, SAVP, and their feedback variants).
func (s *Stream) RTP() bool {
	switch s.Proto {
	case "RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF":
		return true
	}
	return false
}

// Secure reports whether the stream's profile is SRTP.
func (s *Stream) Secure() bool { return strings.HasPrefix(s.Proto, "RTP/SAVP") }

// Description is a parsed session description.
type Description struct {
	Origin  string // o= line value
	Streams []Stream
}

// Errors a caller maps to SIP responses.
var (
	// ErrMalformed means the body is not SDP we can read: 400.
	ErrMalformed = errors.New("malformed SDP")
	// ErrNoAudio means the offer carries no usable audio stream: 488.
	ErrNoAudio = errors.New("no audio stream in SDP")
	// ErrNoCommonCodec means no offered codec is acceptable: 488.
	ErrNoCommonCodec = errors.New("no common codec")
	// ErrSRTPRefused means the offer asks for SRTP where it is off: 488
	// (never answered with plain RTP).
	ErrSRTPRefused = errors.New("SRTP offered but not enabled")
	// ErrSRTPRequired means SRTP is required and the offer has no usable
	// crypto: 488.
	ErrSRTPRequired = errors.New("SRTP required but not offered")
)

// staticFormats are the RFC 3551 static payload types an offer may use without rtpmap.
var staticFormats = map[uint8]Format{
	0:  {PT: 0, Name: "PCMU", Rate: 8000},
	8:  {PT: 8, Name: "PCMA", Rate: 8000},
	3:  {PT: 3, Name: "GSM", Rate: 8000},
	9:  {PT: 9, Name: "G722", Rate: 8000},
	18: {PT: 18, Name: "G729", Rate: 8000},
}

// maxBody bounds what we are willing to parse; real offers are < 4 kB.
const maxBody = 16 * 1024

// maxStreams bounds the m= lines kept; more is not a telephone's offer.
const maxStreams = 16

// Parse reads an SDP body with all its streams.
func Parse(body []byte) (*Description, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), maxBody)
	}
	var (
		d           Description
		sessionAddr netip.Addr
		sessionDir  Direction
		cur         *Stream
		addrs       []netip.Addr // per stream: media-level c=
		dirs        []Direction  // per stream: media-level direction
		rtpmaps     []map[uint8]Format
		fmtps       []map[uint8]string
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
		n := len(d.Streams) - 1
		switch typ {
		case 'o':
			if cur == nil {
				d.Origin = val
			}
		case 'c':
			addr, err := parseConnection(val)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, i+1, err)
			}
			if cur == nil {
				sessionAddr = addr
			} else {
				addrs[n] = addr
			}
		case 'm':
			if len(d.Streams) == maxStreams {
				return nil, fmt.Errorf("%w: more than %d media streams", ErrMalformed, maxStreams)
			}
			st, err := parseMedia(val)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, i+1, err)
			}
			d.Streams = append(d.Streams, st)
			cur = &d.Streams[len(d.Streams)-1]
			addrs, dirs = append(addrs, netip.Addr{}), append(dirs, "")
			rtpmaps, fmtps = append(rtpmaps, map[uint8]Format{}), append(fmtps, map[uint8]string{})
		case 'a':
			name, value, _ := strings.Cut(val, ":")
			switch name {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				if cur == nil {
					sessionDir = Direction(name)
				} else {
					dirs[n] = Direction(name)
				}
			case "rtpmap":
				if cur == nil || !cur.RTP() {
					continue
				}
				f, err := parseRtpmap(value)
				if err != nil {
					return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, i+1, err)
				}
				rtpmaps[n][f.PT] = f
			case "fmtp":
				if cur == nil || !cur.RTP() {
					continue
				}
				ptStr, params, _ := strings.Cut(value, " ")
				pt, err := strconv.Atoi(ptStr)
				if err != nil || pt < 0 || pt > 127 {
					return nil, fmt.Errorf("%w: line %d: bad fmtp payload type", ErrMalformed, i+1)
				}
				fmtps[n][uint8(pt)] = strings.TrimSpace(params)
			case "ptime":
				if cur != nil {
					if v, err := strconv.Atoi(strings.TrimSpace(value)); err == nil && v > 0 && v <= 200 {
						cur.PTime = v
					}
				}
			case "ssrc":
				if cur == nil || cur.HasSSRC {
					continue
				}
				id, _, _ := strings.Cut(value, " ")
				if v, err := strconv.ParseUint(id, 10, 32); err == nil {
					cur.SSRC, cur.HasSSRC = uint32(v), true
				}
			case "crypto":
				if cur == nil {
					continue
				}
				// A crypto line we cannot read is one we would not pick:
				// skip it rather than refuse the whole offer.
				if c, ok := parseCrypto(value); ok && len(cur.Crypto) < 16 {
					cur.Crypto = append(cur.Crypto, c)
				}
			}
		}
	}
	if !sawVersion {
		return nil, fmt.Errorf("%w: no v= line", ErrMalformed)
	}
	for i := range d.Streams {
		st := &d.Streams[i]
		if st.RTP() {
			for _, f := range st.Fmts {
				pt, _ := strconv.Atoi(f) // checked by parseMedia
				fm, ok := rtpmaps[i][uint8(pt)]
				if !ok {
					fm, ok = staticFormats[uint8(pt)]
				}
				if !ok {
					fm = Format{PT: uint8(pt)}
				}
				fm.Fmtp = fmtps[i][uint8(pt)]
				st.Formats = append(st.Formats, fm)
			}
		}
		st.Addr = sessionAddr
		if addrs[i].IsValid() {
			st.Addr = addrs[i]
		}
		if st.RTP() && st.Port != 0 && !st.Addr.IsValid() {
			return nil, fmt.Errorf("%w: %s stream %d has no connection address", ErrMalformed, st.Media, i+1)
		}
		st.Direction = SendRecv
		if sessionDir != "" {
			st.Direction = sessionDir
		}
		if dirs[i] != "" {
			st.Direction = dirs[i]
		}
		// RFC 3264 §8.4: an offer of c=0.0.0.0 means hold (old-style).
		if st.Addr.IsValid() && st.Addr.IsUnspecified() && st.Direction == SendRecv {
			st.Direction = SendOnly
		}
	}
	return &d, nil
}

func parseMedia(val string) (Stream, error) {
	fields := strings.Fields(val)
	if len(fields) < 4 {
		return Stream{}, errors.New("m= needs media, port, proto and formats")
	}
	portStr, _, _ := strings.Cut(fields[1], "/")
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return Stream{}, fmt.Errorf("bad port %q", truncate(fields[1]))
	}
	st := Stream{Media: fields[0], Port: port, Proto: fields[2], Fmts: fields[3:]}
	if len(st.Fmts) > 64 {
		return Stream{}, errors.New("more than 64 formats")
	}
	if st.RTP() {
		for _, f := range st.Fmts {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				return Stream{}, fmt.Errorf("bad payload type %q", truncate(f))
			}
		}
	}
	return st, nil
}

// parseCrypto reads "tag suite inline:key[|...] [session params]".
func parseCrypto(v string) (Crypto, bool) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, false
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, false
	}
	key, ok := strings.CutPrefix(f[2], "inline:")
	if !ok || key == "" {
		return Crypto{}, false
	}
	// Several keys (";"-separated) are legal but never sent by phones.
	if strings.Contains(key, ";") {
		return Crypto{}, false
	}
	return Crypto{Tag: tag, Suite: f[1], Inline: key}, true
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

// SRTPPolicy says whether a peer's media may, must or must not be SRTP.
type SRTPPolicy uint8

const (
	// SRTPOptional (the default): an RTP/SAVP offer is answered RTP/SAVP
	// with crypto, an RTP/AVP offer carrying crypto lines is encrypted too,
	// a plain RTP/AVP offer is answered plain.
	SRTPOptional SRTPPolicy = iota
	// SRTPOff: plain RTP only; an RTP/SAVP offer gets 488 (never a silent
	// downgrade to RTP/AVP).
	SRTPOff
	// SRTPRequired: offers without usable crypto get 488; our offers are
	// RTP/SAVP.
	SRTPRequired
)

// ParseSRTPPolicy reads "off", "optional" or "required".
func ParseSRTPPolicy(s string) (SRTPPolicy, error) {
	switch s {
	case "", "optional":
		return SRTPOptional, nil
	case "off":
		return SRTPOff, nil
	case "required":
		return SRTPRequired, nil
	}
	return 0, fmt.Errorf("srtp %q: want off, optional or required", s)
}

func (p SRTPPolicy) String() string {
	switch p {
	case SRTPOff:
		return "off"
	case SRTPRequired:
		return "required"
	}
	return "optional"
}

// Policy is what the engine accepts in a negotiation.
type Policy struct {
	Formats []Format // codecs in our order of preference
	SRTP    SRTPPolicy
	// Suites are the SRTP crypto suites we can do, in preference order.
	Suites []string
}

// Answer is the outcome of negotiating an offer (or reading the answer to
// ours).
type Answer struct {
	Index      int    // the stream taken
	Proto      string // its profile, echoed in the answer
	Codec      Format // chosen audio codec
	DTMF       uint8  // telephone-event payload type, 0 when not offered
	DTMFEvents string // the offered telephone-event fmtp (e.g. "0-15"), echoed
	Remote     netip.AddrPort
	// Direction is what we answer: the reverse of the offered direction.
	Direction Direction
	// Crypto is the offered crypto line taken (nil: plain RTP).
	Crypto *Crypto
	// SSRC is the peer's announced source for the stream (a=ssrc), when
	// HasSSRC.
	SSRC    uint32
	HasSSRC bool
}

// Negotiate picks the first audio stream (in offer order) that has a port,
// an RTP profile the policy allows and a codec we share, and within it our
// most preferred codec and telephone-event at 8 kHz.
func Negotiate(d *Description, p Policy) (Answer, error) {
	if d == nil {
		return Answer{}, ErrNoAudio
	}
	var sawAudio, sawSAVP, sawPlain, sawCodecless bool
	for i := range d.Streams {
		st := &d.Streams[i]
		if st.Media != "audio" || st.Port == 0 || !st.RTP() {
			continue
		}
		sawAudio = true
		var crypto *Crypto
		if len(st.Crypto) > 0 && p.SRTP != SRTPOff {
			crypto = pickCrypto(st.Crypto, p.Suites)
		}
		switch {
		case st.Secure() && p.SRTP == SRTPOff:
			sawSAVP = true
			continue
		case st.Secure() && crypto == nil:
			sawSAVP = true // SAVP without a crypto line we can do
			continue
		case !st.Secure() && crypto == nil && p.SRTP == SRTPRequired:
			sawPlain = true
			continue
		}
		a, ok := pickCodec(st, p.Formats)
		if !ok {
			sawCodecless = true
			continue
		}
		a.Index, a.Proto, a.Crypto = i, st.Proto, crypto
		a.SSRC, a.HasSSRC = st.SSRC, st.HasSSRC
		a.Remote = netip.AddrPortFrom(st.Addr, uint16(st.Port))
		a.Direction = st.Direction.Reverse()
		return a, nil
	}
	switch {
	case sawCodecless:
		return Answer{}, ErrNoCommonCodec
	case sawSAVP && p.SRTP == SRTPOff:
		return Answer{}, ErrSRTPRefused
	case sawSAVP || sawPlain:
		return Answer{}, ErrSRTPRequired
	case !sawAudio:
		return Answer{}, ErrNoAudio
	}
	return Answer{}, ErrNoAudio
}

func pickCrypto(offered []Crypto, suites []string) *Crypto {
	for _, s := range suites {
		for i := range offered {
			if offered[i].Suite == s {
				c := offered[i]
				return &c
			}
		}
	}
	return nil
}

func pickCodec(st *Stream, prefs []Format) (Answer, bool) {
	var a Answer
	found := false
	for _, p := range prefs {
		for _, f := range st.Formats {
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
		return a, false
	}
	for _, f := range st.Formats {
		if strings.EqualFold(f.Name, "telephone-event") && f.Rate == 8000 {
			a.DTMF, a.DTMFEvents = f.PT, f.Fmtp
			break
		}
	}
	return a, true
}

// Local describes our side of the audio stream.
type Local struct {
	Addr      netip.Addr
	Port      int
	SessionID uint64
	Version   uint64 // bump on every new offer or answer that changes
	Formats   []Format
	DTMF      uint8
	// DTMFEvents is the telephone-event range we write ("0-16" when empty
	// in an offer; an answer echoes the offer's).
	DTMFEvents string
	Dir        Direction
	Proto      string   // RTP/AVP when empty
	Crypto     []Crypto // our a=crypto lines (answers: exactly one)
}

func (l *Local) header(b *strings.Builder) string {
	ipv := "IP4"
	if l.Addr.Is6() && !l.Addr.Is4In6() {
		ipv = "IP6"
	}
	b.Grow(512)
	b.WriteString("v=0\r\n")
	fmt.Fprintf(b, "o=hotline %d %d IN %s %s\r\n", l.SessionID, l.Version, ipv, l.Addr)
	b.WriteString("s=hotline\r\n")
	fmt.Fprintf(b, "c=IN %s %s\r\n", ipv, l.Addr)
	b.WriteString("t=0 0\r\n")
	return ipv
}

func (l *Local) audio(b *strings.Builder, events string) {
	proto := l.Proto
	if proto == "" {
		proto = "RTP/AVP"
	}
	fmt.Fprintf(b, "m=audio %d %s", l.Port, proto)
	for _, f := range l.Formats {
		fmt.Fprintf(b, " %d", f.PT)
	}
	if l.DTMF != 0 {
		fmt.Fprintf(b, " %d", l.DTMF)
	}
	b.WriteString("\r\n")
	for _, f := range l.Formats {
		fmt.Fprintf(b, "a=rtpmap:%d %s/%d\r\n", f.PT, f.Name, f.Rate)
	}
	if l.DTMF != 0 {
		fmt.Fprintf(b, "a=rtpmap:%d telephone-event/8000\r\n", l.DTMF)
		if events != "" {
			fmt.Fprintf(b, "a=fmtp:%d %s\r\n", l.DTMF, events)
		}
	}
	b.WriteString("a=ptime:20\r\n")
	dir := l.Dir
	if dir == "" {
		dir = SendRecv
	}
	fmt.Fprintf(b, "a=%s\r\n", dir)
	for _, c := range l.Crypto {
		fmt.Fprintf(b, "a=crypto:%s\r\n", c)
	}
}

// Offer writes a session description with our one audio stream.
func (l Local) Offer() []byte {
	var b strings.Builder
	l.header(&b)
	events := l.DTMFEvents
	if events == "" {
		events = "0-16"
	}
	l.audio(&b, events)
	return []byte(b.String())
}

// AnswerTo writes the answer to offer: one m= line per offered stream, in
// order; the stream at index is ours, every other one is declined with
// port 0 (RFC 3264 §6).
func (l Local) AnswerTo(offer *Description, index int) []byte {
	var b strings.Builder
	l.header(&b)
	for i := range offer.Streams {
		st := &offer.Streams[i]
		if i == index {
			if l.Proto == "" {
				l.Proto = st.Proto
			}
			l.audio(&b, l.DTMFEvents)
			continue
		}
		fmtList := "0"
		if len(st.Fmts) > 0 {
			fmtList = st.Fmts[0]
		}
		fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", st.Media, st.Proto, fmtList)
	}
	return []byte(b.String())
}

// Build writes a one-stream plain RTP/AVP description (an offer).
func Build(addr netip.Addr, port int, sessionID, version uint64, formats []Format, dtmfPT uint8, dir Direction) []byte {
	return Local{Addr: addr, Port: port, SessionID: sessionID, Version: version, Formats: formats, DTMF: dtmfPT, Dir: dir}.Offer()
}
