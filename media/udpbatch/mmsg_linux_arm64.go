//go:build linux && arm64

package udpbatch

const (
	sysRECVMMSG = 243
	sysSENDMMSG = 269
)
