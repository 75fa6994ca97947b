//go:build !linux

package sip

func forceBuffers(fd uintptr, size int) {}
