// Package mediatest helps tests stand in for a phone's audio: send a tone as
// paced PCMU RTP from a socket the test owns, and tell which tones a stream
// of received audio carries.
package mediatest

import (
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media"
)

// SendTone sends d of a PCMU tone at freq from conn to addr, one 20 ms packet
// at a time on a steady clock, with the given SSRC. It may run on another
// goroutine than the test's, so it reports errors with t.Error.
func SendTone(t testing.TB, conn *net.UDPConn, addr netip.AddrPort, freq float64, d time.Duration, ssrc uint32) {
	tone := media.Tone(freq, d, 8000)
	to := net.UDPAddrFromAddrPort(addr)
	start := time.Now()
	for i := 0; i+media.FrameSamples <= len(tone.Samples); i += media.FrameSamples {
		payload, err := media.PCMU.Encode(nil, tone.Samples[i:i+media.FrameSamples])
		if err != nil {
			t.Error(err)
			return
		}
		pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i / media.FrameSamples), Timestamp: uint32(i), SSRC: ssrc}, Payload: payload}
		b, _ := pk.Marshal()
		if _, err := conn.WriteToUDP(b, to); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(time.Until(start.Add(time.Duration(i/media.FrameSamples+1) * media.FrameDuration)))
	}
}

// Goertzel returns the relative power of freq in 8 kHz samples; compare
// two frequencies' powers to tell which tone a stream carries.
func Goertzel(samples []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, x := range samples {
		s := float64(x) + k*s1 - s2
		s2, s1 = s1, s
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(samples)*len(samples)+1)
}
