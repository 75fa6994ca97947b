package media

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// The shared ports of one local IP. They are polled sockets (outside Go's
// network poller), drained every pollEvery by one reader per CPU, each
// reader owning some of the sockets: no packet arriving or leaving wakes
// anything, the readers wake a thousand times a second whatever the load,
// and everything one round relays leaves in one sendmmsg per socket. The
// cost is up to pollEvery of added delay on the receive side.
const pollEvery = time.Millisecond

// sharedPool is the shared sockets on one local IP and their readers.
type sharedPool struct {
	eps  []*endpoint
	refs int
	// peers[i][ip]: legs of eps[i] whose media is expected from ip, so a
	// new one goes where no other leg of that peer is (IP-only latching,
	// NAT, stays unambiguous).
	peers   []map[netip.Addr]int
	readers []*poolReader
}

// poolReader drains some of a pool's sockets.
type poolReader struct {
	eps  []*endpoint
	stop chan struct{}
	done chan struct{}
}

// acquireShared returns the shared socket on ip a new leg should use:
// the one with the fewest legs of the same peer IP, then the least loaded.
func (a *PortAllocator) acquireShared(ip, peer netip.Addr) (*endpoint, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pools == nil {
		a.pools = make(map[netip.Addr]*sharedPool)
	}
	p := a.pools[ip]
	if p == nil {
		var err error
		if p, err = a.openPoolLocked(ip); err != nil {
			return nil, err
		}
		a.pools[ip] = p
	}
	best := 0
	for i, ep := range p.eps {
		bw, iw := p.peers[best][peer], p.peers[i][peer]
		if iw < bw || iw == bw && ep.load() < p.eps[best].load() {
			best = i
		}
	}
	p.refs++
	if peer.IsValid() {
		p.peers[best][peer]++
	}
	return p.eps[best], nil
}

// openPoolLocked binds the shared sockets and starts their readers.
func (a *PortAllocator) openPoolLocked(ip netip.Addr) (*sharedPool, error) {
	p := &sharedPool{}
	for i := range max(a.shareN, 1) {
		pc, port, err := a.bindPolledLocked(ip)
		if err != nil {
			for _, ep := range p.eps {
				_ = ep.pc.Close()
				delete(a.inUse, ep.port)
			}
			return nil, err
		}
		p.eps = append(p.eps, newSharedEndpoint(a, pc, port, ip, i))
		p.peers = append(p.peers, map[netip.Addr]int{})
	}
	n := min(runtime.GOMAXPROCS(0), len(p.eps))
	for j := range n {
		r := &poolReader{stop: make(chan struct{}), done: make(chan struct{})}
		for i := j; i < len(p.eps); i += n {
			r.eps = append(r.eps, p.eps[i])
		}
		p.readers = append(p.readers, r)
		go r.run()
	}
	return p, nil
}

// releaseShared is a leg leaving its shared socket; the last leg closes
// the pool.
func (a *PortAllocator) releaseShared(ep *endpoint, peer netip.Addr) {
	a.mu.Lock()
	p := a.pools[ep.local.Addr()]
	if p == nil {
		a.mu.Unlock()
		return
	}
	if peer.IsValid() {
		for i, e := range p.eps {
			if e == ep {
				if p.peers[i][peer]--; p.peers[i][peer] <= 0 {
					delete(p.peers[i], peer)
				}
			}
		}
	}
	p.refs--
	if p.refs > 0 {
		a.mu.Unlock()
		return
	}
	delete(a.pools, ep.local.Addr())
	for _, e := range p.eps {
		a.closedDrops.Foreign += e.foreign.Load()
		a.closedDrops.Ambiguous += e.ambiguous.Load()
		a.closedDrops.Junk += e.junk.Load()
	}
	a.mu.Unlock()
	for _, r := range p.readers {
		close(r.stop)
		<-r.done
	}
	for _, e := range p.eps {
		if err := e.close(); err != nil {
			a.log().Warn("closing shared rtp socket", "err", err)
		}
	}
}

// rxBatchShared is how many datagrams one recvmmsg on a shared socket takes.
const rxBatchShared = 32

// run drains the reader's sockets every pollEvery until stopped.
func (r *poolReader) run() {
	defer close(r.done)
	io := udpbatch.NewIO(rxBatchShared)
	ms := newReadBuffers(rxBatchShared, true)
	tx := newTxBatch(txBatchSize, pktRoom)
	rx := rxScratch{targets: make([]*Session, rxBatchShared)}
	timer := time.NewTimer(pollEvery)
	defer timer.Stop()
	for {
		for _, ep := range r.eps {
			for {
				k, err := io.Drain(ep.pc, ms)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						ep.junk.Add(1)
					}
					break
				}
				if k == 0 {
					break
				}
				now := time.Now()
				tx.now = now
				ep.dispatch(ms[:k], &rx, tx, now, true)
				if k < len(ms) {
					break
				}
			}
		}
		tx.flush()
		timer.Reset(pollEvery)
		select {
		case <-r.stop:
			return
		case <-timer.C:
		}
	}
}
