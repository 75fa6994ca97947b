package sip

import "net"

// udpBuffer is the SIP UDP socket's kernel buffer size. The default
// (about 200 KiB on Linux) holds some 90 SIP messages: at a thousand
// calls a second (three messages in per call) that is 30 ms of traffic,
// so a reader held up that long by the scheduler or a garbage collection
// loses requests, and each one lost costs the caller a 500 ms
// retransmission. 4 MiB rides out more than a second.
const udpBuffer = 4 << 20

// growBuffers asks for size-byte receive and send buffers on a UDP
// socket, past net.core.rmem_max/wmem_max where the process may
// (CAP_NET_ADMIN); otherwise the kernel caps them, as the operator set.
func growBuffers(pc net.PacketConn, size int) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	_ = uc.SetReadBuffer(size)
	_ = uc.SetWriteBuffer(size)
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { forceBuffers(fd, size) })
}
