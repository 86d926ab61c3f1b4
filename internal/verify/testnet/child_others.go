//go:build !linux

package testnet

import "os/exec"

// setParentDeathSignal does nothing: only Linux has parent-death signals
// (and test networks).
func setParentDeathSignal(*exec.Cmd) {}
