//go:build unix

package sipptest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A port handed out here is reserved against every other test process
// until this one exits: another process's attempt to lock it fails.
func TestFreeUDPPortReservesAcrossProcesses(t *testing.T) {
	p := FreeUDPPort(t)
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "hotline-sipp-ports", strconv.Itoa(p)), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no reservation file for port %d: %v", p, err)
	}
	defer f.Close()
	if lockFile(f) {
		t.Fatalf("port %d could be reserved a second time", p)
	}
	if q := FreeUDPPort(t); q == p {
		t.Fatalf("port %d handed out twice", p)
	}
}
