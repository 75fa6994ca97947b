package udpbatch

import "testing"

func TestKernelStamp(t *testing.T) {
	// cmsghdr{len 32, SOL_SOCKET, SCM_TIMESTAMPNS} + timespec{5 s, 7 ns}
	oob := make([]byte, 32)
	oob[0] = 32
	oob[8] = 1   // SOL_SOCKET
	oob[12] = 35 // SO_TIMESTAMPNS
	oob[16] = 5
	oob[24] = 7
	got, ok := KernelStamp(oob)
	if !ok || got != 5_000_000_007 {
		t.Errorf("stamp = %d, %v; want 5000000007, true", got, ok)
	}
	if _, ok := KernelStamp(oob[:20]); ok {
		t.Error("a truncated control message must not parse")
	}
}
