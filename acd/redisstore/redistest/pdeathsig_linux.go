package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel kill redis-server if the test binary dies
// without running its cleanups (timeout panic, SIGKILL).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
