//go:build !linux

package redistest

import "os/exec"

// dieWithTest has no portable equivalent of Pdeathsig; the test's cleanups
// stop the server.
func dieWithTest(*exec.Cmd) {}
