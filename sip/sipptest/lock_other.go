//go:build !unix

package sipptest

import "os"

// lockFile cannot lock here; the port probe alone guards.
func lockFile(*os.File) bool { return true }
