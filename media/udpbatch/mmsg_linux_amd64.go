//go:build linux && amd64

package udpbatch

// The syscall package lists recvmmsg but not sendmmsg on amd64.
const (
	sysRECVMMSG = 299
	sysSENDMMSG = 307
)
