package uatest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/mediatest"
)

// Media is a dialog's RTP: one socket that sends a tone (or nothing) and
// keeps what it hears.
type Media struct {
	conn *net.UDPConn
	ssrc uint32

	mu       sync.Mutex
	peer     netip.AddrPort
	received int
	from     map[netip.AddrPort]int
	heard    []int16 // the last few seconds of decoded audio
	lastIn   time.Time
	stopSend chan struct{}
	closed   bool
	done     chan struct{}
}

const heardMax = 8000 * 4 // 4 s

func newMedia(d *Dialog) (*Media, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("uatest: rtp socket: %w", err)
	}
	m := &Media{conn: conn, ssrc: rand.Uint32(), from: map[netip.AddrPort]int{}, done: make(chan struct{})}
	go m.readLoop()
	return m, nil
}

// Addr is the local RTP address.
func (m *Media) Addr() netip.AddrPort { return m.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (m *Media) sdp(ip netip.Addr, dir string) []byte {
	port := m.Addr().Port()
	return []byte(fmt.Sprintf("v=0\r\no=uatest 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=%s\r\n",
		ip, ip, port, dir))
}

func (m *Media) setPeer(ap netip.AddrPort) {
	m.mu.Lock()
	m.peer = ap
	m.mu.Unlock()
}

// Peer is where this side sends RTP (the engine's SDP address).
func (m *Media) Peer() netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peer
}

func (m *Media) readLoop() {
	defer close(m.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var pk rtp.Packet
		if pk.Unmarshal(buf[:n]) != nil {
			continue
		}
		m.mu.Lock()
		m.received++
		m.from[from]++
		m.lastIn = time.Now()
		if pk.PayloadType == 0 {
			pcm := make([]int16, len(pk.Payload))
			if out, err := media.PCMU.Decode(pcm[:0], pk.Payload); err == nil {
				m.heard = append(m.heard, out...)
				if over := len(m.heard) - heardMax; over > 0 {
					m.heard = append(m.heard[:0], m.heard[over:]...)
				}
			}
		}
		m.mu.Unlock()
	}
}

// Received is how many RTP packets arrived.
func (m *Media) Received() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.received
}

// Forget drops what was heard so far.
func (m *Media) Forget() {
	m.mu.Lock()
	m.heard = m.heard[:0]
	m.mu.Unlock()
}

// Hears reports whether the last window of audio carries freq more than
// any of others (a Goertzel comparison, as the engine tests do).
func (m *Media) Hears(freq float64, others ...float64) bool {
	m.mu.Lock()
	samples := append([]int16(nil), m.heard...)
	m.mu.Unlock()
	if len(samples) < 1600 {
		return false
	}
	samples = samples[len(samples)-1600:]
	p := mediatest.Goertzel(samples, freq)
	if p < 1 {
		return false
	}
	for _, o := range others {
		if mediatest.Goertzel(samples, o) >= p {
			return false
		}
	}
	return true
}

// StartTone sends a continuous PCMU tone at freq to the peer, one packet
// every 20 ms on a steady clock, until StopSending or Close.
func (m *Media) StartTone(freq float64) {
	m.StopSending()
	stop := make(chan struct{})
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.stopSend = stop
	m.mu.Unlock()
	go func() {
		var seq uint16
		var ts uint32
		start := time.Now()
		pcm := make([]int16, media.FrameSamples)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-m.done:
				return
			default:
			}
			for j := range pcm {
				n := float64(i*media.FrameSamples + j)
				pcm[j] = int16(8000 * math.Sin(2*math.Pi*freq*n/8000))
			}
			payload, _ := media.PCMU.Encode(nil, pcm)
			pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: m.ssrc}, Payload: payload}
			seq++
			ts += media.FrameSamples
			if b, err := pk.Marshal(); err == nil {
				if peer := m.Peer(); peer.IsValid() {
					_, _ = m.conn.WriteToUDPAddrPort(b, peer)
				}
			}
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * media.FrameDuration)))
		}
	}()
}

// StopSending stops the tone: the phone goes silent (as one that vanished).
func (m *Media) StopSending() {
	m.mu.Lock()
	if m.stopSend != nil {
		close(m.stopSend)
		m.stopSend = nil
	}
	m.mu.Unlock()
}

// Close stops sending and receiving.
func (m *Media) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	if m.stopSend != nil {
		close(m.stopSend)
		m.stopSend = nil
	}
	m.mu.Unlock()
	m.conn.Close()
	<-m.done
}
