package testnet

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child if the test binary
// dies first, so no child outlives its test network.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
