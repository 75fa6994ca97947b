package media

import "net/netip"

// Demultiplexing legs that share one local port. A datagram is given to a
// leg only when exactly one leg can claim it, in this order:
//
//  1. a leg latched to the source address whose current stream has the
//     packet's SSRC;
//  2. a leg whose SDP signalled this SSRC (a=ssrc, RFC 5576);
//  3. the one leg latched to the source address (the peer restarted its
//     stream with a new SSRC) — unless a leg still waiting for its peer
//     names that same address, when nobody can tell the two apart;
//  4. the one waiting leg whose SDP names the source address exactly;
//  5. a latched leg whose current stream has this SSRC (its NAT moved it;
//     the leg checks the sequence before it follows);
//  6. the one waiting leg whose SDP address or signalling source has the
//     source's IP (a phone behind NAT).
//
// Anything else is dropped and counted (ambiguous or foreign): a packet
// is never guessed onto a call. The leg then applies its own latching
// rules (LatchStrict), so sharing a port weakens none of them. Packets
// carrying a leg's own SSRC (its audio looped back) never match that leg.
// Peers that send several calls' media from one address and port, with
// no a=ssrc, and NATed phones several at a time from one IP, are the
// cases a port of its own (Options.OwnPort) is for.
type demux struct {
	byPeer   map[netip.AddrPort][]*Session // latched legs by peer address
	byRemote map[netip.AddrPort][]*Session // waiting legs by SDP address
	byIP     map[netip.Addr][]*Session     // waiting legs by SDP IP and signalling IP
	byExpect map[uint32][]*Session         // legs by signalled SSRC
	byRx     map[uint32][]*Session         // latched legs by their current stream's SSRC
}

// demuxKeys is what a leg is indexed under (guarded by the endpoint's mu).
type demuxKeys struct {
	in                 bool
	peer, remote       netip.AddrPort
	hasPeer, hasRemote bool
	ips                [2]netip.Addr
	nips               int
	expect             uint32
	hasExpect          bool
	rx                 uint32 // SSRC of the stream the leg hears (set by the reader)
	hasRx, rxIndexed   bool
}

func (d *demux) init() {
	d.byPeer = make(map[netip.AddrPort][]*Session)
	d.byRemote = make(map[netip.AddrPort][]*Session)
	d.byIP = make(map[netip.Addr][]*Session)
	d.byExpect = make(map[uint32][]*Session)
	d.byRx = make(map[uint32][]*Session)
}

func add[K comparable](m map[K][]*Session, k K, s *Session) { m[k] = append(m[k], s) }

func del[K comparable](m map[K][]*Session, k K, s *Session) {
	l := m[k]
	for i, x := range l {
		if x == s {
			l[i] = l[len(l)-1]
			l[len(l)-1] = nil
			l = l[:len(l)-1]
			break
		}
	}
	if len(l) == 0 {
		delete(m, k)
	} else {
		m[k] = l
	}
}

// unindex removes every key of s.
func (d *demux) unindex(s *Session) {
	k := &s.dk
	if !k.in {
		return
	}
	if k.hasPeer {
		del(d.byPeer, k.peer, s)
	}
	if k.hasRemote {
		del(d.byRemote, k.remote, s)
	}
	for i := range k.nips {
		del(d.byIP, k.ips[i], s)
	}
	if k.hasExpect {
		del(d.byExpect, k.expect, s)
	}
	if k.rxIndexed {
		del(d.byRx, k.rx, s)
	}
	k.in, k.hasPeer, k.hasRemote, k.nips, k.hasExpect, k.rxIndexed = false, false, false, 0, false, false
}

// index (re)computes the keys of s from its current state.
func (d *demux) index(s *Session) {
	d.unindex(s)
	k := &s.dk
	k.in = true
	if l := s.latched.Load(); l != nil {
		k.peer, k.hasPeer = *l, true
		add(d.byPeer, k.peer, s)
		if k.hasRx {
			k.rxIndexed = true
			add(d.byRx, k.rx, s)
		}
	} else {
		if c := s.cfg.Load(); c != nil {
			r := c.remote
			if r.IsValid() && !r.Addr().IsUnspecified() && r.Port() != 0 {
				k.remote, k.hasRemote = r, true
				add(d.byRemote, r, s)
			}
			if r.IsValid() && !r.Addr().IsUnspecified() {
				k.ips[k.nips] = r.Addr()
				k.nips++
			}
		}
		if sig := s.sigIP.Load(); sig != nil && (k.nips == 0 || k.ips[0] != *sig) {
			k.ips[k.nips] = *sig
			k.nips++
		}
		for i := range k.nips {
			add(d.byIP, k.ips[i], s)
		}
	}
	if e := s.expect.Load(); e != 0 {
		k.expect, k.hasExpect = uint32(e), true
		add(d.byExpect, k.expect, s)
	}
}

// lookup returns the leg a packet from from with ssrc is for, or
// ambiguous=true when several could claim it.
func (d *demux) lookup(from netip.AddrPort, ssrc uint32, hasSSRC bool) (s *Session, ambiguous bool) {
	peers := d.byPeer[from]
	if hasSSRC {
		for _, p := range peers {
			if p.dk.hasRx && p.dk.rx == ssrc {
				return p, false
			}
		}
		if l := d.byExpect[ssrc]; len(l) > 0 {
			if len(l) == 1 {
				return l[0], false
			}
			return nil, true
		}
	}
	pending := d.byRemote[from]
	if len(peers) > 0 {
		if len(peers) == 1 && pick(pending, ssrc, hasSSRC) == nil && !several(pending, ssrc, hasSSRC) {
			return peers[0], false
		}
		return nil, true
	}
	if c := pick(pending, ssrc, hasSSRC); c != nil {
		return c, false
	} else if several(pending, ssrc, hasSSRC) {
		return nil, true
	}
	if hasSSRC {
		if l := d.byRx[ssrc]; len(l) == 1 {
			return l[0], false
		} else if len(l) > 1 {
			return nil, true
		}
	}
	byIP := d.byIP[from.Addr()]
	if c := pick(byIP, ssrc, hasSSRC); c != nil {
		return c, false
	}
	return nil, several(byIP, ssrc, hasSSRC)
}

// candidate: a waiting leg may take this packet unless it is the leg's
// own audio looped back, or the leg signalled another SSRC.
func candidate(s *Session, ssrc uint32, hasSSRC bool) bool {
	if hasSSRC && s.ssrc == ssrc {
		return false
	}
	return !s.dk.hasExpect || (hasSSRC && s.dk.expect == ssrc)
}

// pick returns the one candidate of l, or nil if none or several.
func pick(l []*Session, ssrc uint32, hasSSRC bool) *Session {
	var found *Session
	for _, s := range l {
		if candidate(s, ssrc, hasSSRC) {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func several(l []*Session, ssrc uint32, hasSSRC bool) bool {
	n := 0
	for _, s := range l {
		if candidate(s, ssrc, hasSSRC) {
			n++
		}
	}
	return n > 1
}
