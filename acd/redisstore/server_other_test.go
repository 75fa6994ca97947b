//go:build !linux

package redisstore

import "os/exec"

func dieWithTest(*exec.Cmd) {}
