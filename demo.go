// Package hotline holds the embedded demo: the configuration, flows, prompts
// and CRM fixture that `go run ./cmd/hotline` serves with no arguments.
//
// It lives at the module root because Go can embed only files at or below a
// package's directory, and the demo's files are the ones in testdata/ that the
// tests use too (one copy, not two).
package hotline

import "embed"

// Demo is the demo configuration tree; testdata/hotline.yaml is its root file.
//
//go:embed testdata/hotline.yaml testdata/flows testdata/prompts testdata/crm testdata/campaigns
var Demo embed.FS
