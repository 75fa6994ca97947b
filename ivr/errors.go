package ivr

import (
	"fmt"
	"strings"
)

// FlowError is one problem found in a flow file. Line is 1-based; 0 means the
// problem concerns the whole file.
type FlowError struct {
	File string
	Line int
	Node string
	Msg  string
}

func (e *FlowError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Node != "" {
		fmt.Fprintf(&b, "node %q: ", e.Node)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList collects every problem of a load so an operator can fix them all
// in one pass rather than one per reload.
type ErrorList []*FlowError

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d flow errors:", len(l))
	for _, e := range l {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns nil for an empty list so callers can return it directly.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
