package udpbatch

import "encoding/binary"

// SOL_SOCKET and SO_TIMESTAMPNS (SCM_TIMESTAMPNS) on Linux, spelled out so
// that the package builds where package syscall has no such names (the
// fallback's sockets carry no stamps there; KernelStamp then finds none).
const (
	solSocket     = 1
	soTimestampNS = 35
)

// KernelStamp reads the arrival time, Unix nanoseconds, from a datagram's
// SCM_TIMESTAMPNS control message (Message.OOB[:NOOB] of a socket with
// SO_TIMESTAMPNS; 64-bit Linux: a 16-byte cmsghdr, then a struct
// timespec). ok is false when the message carries none.
func KernelStamp(oob []byte) (ns int64, ok bool) {
	for len(oob) >= 16 {
		l := int(binary.NativeEndian.Uint64(oob[0:]))
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < 16 || l > len(oob) {
			return 0, false
		}
		if level == solSocket && typ == soTimestampNS && l >= 32 {
			sec := int64(binary.NativeEndian.Uint64(oob[16:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[24:]))
			return sec*1e9 + nsec, true
		}
		oob = oob[(l+7)&^7:]
	}
	return 0, false
}
