//go:build linux && (amd64 || arm64)

package media

import (
	"syscall"
	"testing"
	"time"
)

// TestTrainsToOnePeer: legs on one shared socket sending to one peer
// address leave as trains, and the peer still gets every leg's packets
// whole, one datagram each, in each leg's order; when the kernel refuses
// the offload (SO_NO_CHECK makes it answer EINVAL) the same packets go one
// by one, nothing is lost, and the socket makes no more trains.
func TestTrainsToOnePeer(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		name := map[bool]string{false: "offload", true: "refused"}[refuse]
		t.Run(name, func(t *testing.T) {
			alloc := newTestAlloc(t, 16)
			_ = alloc.ShareSockets(1)
			sink, other := newRawPeer(t), newRawPeer(t)
			const legs, frames = 10, 3
			var ss []*Session
			for i := range legs {
				s := newTestSession(t, alloc)
				to := sink
				if i == legs-1 {
					to = other // a peer of its own: its three frames are a train of their own
				}
				s.SetRemote(to.addr(), PCMU, 0)
				ss = append(ss, s)
			}
			ep := ss[0].ep
			if refuse {
				var serr error
				if err := ep.pc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1) }); err != nil || serr != nil {
					t.Fatalf("SO_NO_CHECK: %v %v", err, serr)
				}
			}
			tx := newTxBatch(txBatchSize, pktRoom)
			tx.now = time.Now()
			pcm := Tone(440, FrameDuration, 8000).Samples
			for range frames {
				for _, s := range ss {
					if err := s.writeFrameTo(pcm, tx); err != nil {
						t.Fatal(err)
					}
				}
			}
			tx.flush()
			if tx.firstErr != nil {
				t.Fatalf("flush: %v", tx.firstErr)
			}
			seqs := map[uint32][]uint16{}
			for range (legs - 1) * frames {
				p := sink.read()
				if len(p.Payload) != 160 {
					t.Fatalf("payload of %d bytes, want 160", len(p.Payload))
				}
				seqs[p.SSRC] = append(seqs[p.SSRC], p.SequenceNumber)
			}
			if p, ok := sink.tryRead(100 * time.Millisecond); ok {
				t.Fatalf("extra packet at the shared peer: SSRC %d", p.SSRC)
			}
			for range frames {
				if p := other.read(); p.SSRC != ss[legs-1].SSRC() {
					t.Fatalf("the other peer got SSRC %d", p.SSRC)
				}
			}
			for _, s := range ss[:legs-1] {
				got := seqs[s.SSRC()]
				if len(got) != frames || got[1] != got[0]+1 || got[2] != got[1]+1 {
					t.Fatalf("leg %d: sequence numbers %v", s.SSRC(), got)
				}
			}
			for _, s := range ss {
				if st := s.Stats(); st.PacketsOut != frames || st.SendErrors != 0 {
					t.Fatalf("leg stats: %d out, %d send errors", st.PacketsOut, st.SendErrors)
				}
			}
			trained := ep.trained.Load()
			if !refuse && trained != legs*frames {
				t.Fatalf("%d datagrams left in trains, want %d", trained, legs*frames)
			}
			if refuse && (trained != 0 || !ep.noTrains.Load()) {
				t.Fatalf("refused offload: %d datagrams in trains, trains off %v", trained, ep.noTrains.Load())
			}
		})
	}
}
