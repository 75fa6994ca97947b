// Package webrtctest is a browser stand-in for tests and load runs: a
// pion peer connection that answers the engine's offers on the loopback
// interface, sends G.711 RTP (a tone, or RFC 4733 digits) and keeps what
// it hears.
package webrtctest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/hotlinecc/hotline/media"
)

// Client is one browser's peer connection.
type Client struct {
	pc    *pion.PeerConnection
	track *rawTrack

	mu       sync.Mutex
	heard    []int16
	keep     int // samples kept (0: all)
	onPacket func(*rtp.Packet, time.Time)

	seq       uint16
	ts        uint32
	ssrcSent  uint32
	packetsIn atomic.Uint64
	wg        sync.WaitGroup
}

var api = func() *pion.API {
	me := &pion.MediaEngine{}
	for _, c := range []pion.RTPCodecParameters{
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8},
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"}, PayloadType: 101},
	} {
		if err := me.RegisterCodec(c, pion.RTPCodecTypeAudio); err != nil {
			panic(err) // static codec table: cannot fail
		}
	}
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	// Only the loopback interface: tests send nothing elsewhere.
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	ir := &interceptor.Registry{}
	if err := pion.ConfigureRTCPReports(ir); err != nil {
		panic(err) // no options: cannot fail
	}
	return pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se), pion.WithInterceptorRegistry(ir))
}()

// NewClient makes a peer connection ready to answer one offer.
func NewClient() (*Client, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("webrtctest: peer connection: %w", err)
	}
	c := &Client{pc: pc, track: &rawTrack{}, seq: 1, ts: 160, ssrcSent: 0}
	if _, err := pc.AddTrack(c.track); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("webrtctest: add track: %w", err)
	}
	pc.OnTrack(func(t *pion.TrackRemote, _ *pion.RTPReceiver) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.read(t)
		}()
	})
	return c, nil
}

// KeepLast bounds the audio kept to the last n samples (load runs).
func (c *Client) KeepLast(n int) {
	c.mu.Lock()
	c.keep = n
	c.mu.Unlock()
}

// OnPacket is told every RTP packet received, with its arrival time.
func (c *Client) OnPacket(fn func(*rtp.Packet, time.Time)) {
	c.mu.Lock()
	c.onPacket = fn
	c.mu.Unlock()
}

// Answer applies the engine's offer and returns the answer, with this
// client's candidates in it.
func (c *Client) Answer(offer string) (string, error) {
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("webrtctest: offer: %w", err)
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("webrtctest: answer: %w", err)
	}
	gathered := pion.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("webrtctest: answer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return "", errors.New("webrtctest: gathering did not complete")
	}
	return c.pc.LocalDescription().SDP, nil
}

// Connected waits until the connection is up (ICE and DTLS).
func (c *Client) Connected(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		switch c.pc.ConnectionState() {
		case pion.PeerConnectionStateConnected:
			return nil
		case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed:
			return fmt.Errorf("webrtctest: connection %s", c.pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("webrtctest: not connected after %s (%s)", d, c.pc.ConnectionState())
}

// State is the peer connection's state.
func (c *Client) State() pion.PeerConnectionState { return c.pc.ConnectionState() }

// Close closes the peer connection (as a page closing its phone).
func (c *Client) Close() {
	_ = c.pc.Close()
	c.wg.Wait()
}

// WriteFrame sends 20 ms of audio as one PCMU packet.
func (c *Client) WriteFrame(pcm []int16) error {
	payload, err := media.PCMU.Encode(nil, pcm)
	if err != nil {
		return err
	}
	c.mu.Lock()
	h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: c.seq, Timestamp: c.ts}
	c.seq++
	c.ts += uint32(len(pcm))
	c.mu.Unlock()
	return c.track.write(&h, payload)
}

// SendTone sends d of a tone at freq, paced in real time.
func (c *Client) SendTone(freq float64, d time.Duration) error {
	tone := media.Tone(freq, d, 8000)
	start := time.Now()
	for i := 0; i+media.FrameSamples <= len(tone.Samples); i += media.FrameSamples {
		if err := c.WriteFrame(tone.Samples[i : i+media.FrameSamples]); err != nil {
			return err
		}
		time.Sleep(time.Until(start.Add(time.Duration(i/media.FrameSamples+1) * media.FrameDuration)))
	}
	return nil
}

// SendDigit sends one RFC 4733 event (payload type 101): 5 packets of
// 20 ms, then the three end packets.
func (c *Client) SendDigit(code uint8) error {
	c.mu.Lock()
	ts := c.ts
	seq := c.seq
	c.seq += 8
	c.ts += 8 * 160
	c.mu.Unlock()
	for i := 0; i < 8; i++ {
		end := i >= 5
		dur := uint16(min(i+1, 6) * 160)
		p := []byte{code, 10, byte(dur >> 8), byte(dur)}
		if end {
			p[1] |= 0x80
		}
		h := rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq + uint16(i), Timestamp: ts, Marker: i == 0}
		if err := c.track.write(&h, p); err != nil {
			return err
		}
		time.Sleep(media.FrameDuration)
	}
	return nil
}

// Heard is a copy of the audio received so far.
func (c *Client) Heard() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.heard...)
}

// PacketsIn counts the RTP packets received.
func (c *Client) PacketsIn() uint64 { return c.packetsIn.Load() }

func (c *Client) read(t *pion.TrackRemote) {
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if n == 0 || errors.Is(err, io.EOF) {
				return
			}
			continue
		}
		now := time.Now()
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		c.packetsIn.Add(1)
		c.mu.Lock()
		fn := c.onPacket
		if codec, ok := media.CodecByPayloadType(pkt.PayloadType); ok {
			pcm, err := codec.Decode(nil, pkt.Payload)
			if err == nil {
				c.heard = append(c.heard, pcm...)
				if c.keep > 0 && len(c.heard) > 2*c.keep {
					c.heard = append(c.heard[:0], c.heard[len(c.heard)-c.keep:]...)
				}
			}
		}
		c.mu.Unlock()
		if fn != nil {
			fn(&pkt, now)
		}
	}
}

// rawTrack sends packets with the payload type they carry (audio or
// telephone-event), as a browser does.
type rawTrack struct {
	bound atomic.Pointer[rawBinding]
}

type rawBinding struct {
	w    pion.TrackLocalWriter
	ssrc uint32
}

func (t *rawTrack) Bind(ctx pion.TrackLocalContext) (pion.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if c.MimeType == pion.MimeTypePCMU || c.MimeType == pion.MimeTypePCMA {
			t.bound.Store(&rawBinding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC())})
			return c, nil
		}
	}
	return pion.RTPCodecParameters{}, errors.New("webrtctest: no G.711 codec")
}

func (t *rawTrack) Unbind(pion.TrackLocalContext) error { t.bound.Store(nil); return nil }
func (t *rawTrack) ID() string                          { return "audio" }
func (t *rawTrack) RID() string                         { return "" }
func (t *rawTrack) StreamID() string                    { return "browser" }
func (t *rawTrack) Kind() pion.RTPCodecType             { return pion.RTPCodecTypeAudio }

// ErrNotBound: the connection is not up yet.
var ErrNotBound = errors.New("webrtctest: track not bound yet")

func (t *rawTrack) write(h *rtp.Header, payload []byte) error {
	b := t.bound.Load()
	if b == nil {
		return ErrNotBound
	}
	h.SSRC = b.ssrc
	_, err := b.w.WriteRTP(h, payload)
	return err
}
