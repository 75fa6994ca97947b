// Package ivr runs the voice menus of the hotline: it loads call flows from
// YAML files, validates them at load time (every error names file, line and
// node), keeps them in a registry that reloads atomically, and interprets a
// flow for one call against small interfaces the engine implements (Leg for
// the caller's media and signalling, Lookup for the CRM, Queuer for the ACD
// hand-off, Transferer for transfers). Every call keeps a trace of the nodes
// it passed and the digits it pressed; the trace travels with the call to the
// ACD and into the call record.
package ivr
