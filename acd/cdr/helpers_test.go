package cdr

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// go.sum carries no assertion library for this module, so the tests use
// these two small checkers: must stops the test, check reports and goes on.
type checker struct{ fatal bool }

var (
	must  = checker{fatal: true}
	check = checker{}
)

func (c checker) fail(t testing.TB, msgs []any, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if len(msgs) > 0 {
		msg = fmt.Sprint(msgs...) + ": " + msg
	}
	if c.fatal {
		t.Fatal(msg)
	}
	t.Error(msg)
}

func (c checker) NoError(t testing.TB, err error, msgs ...any) {
	t.Helper()
	if err != nil {
		c.fail(t, msgs, "unexpected error: %v", err)
	}
}

func (c checker) ErrorIs(t testing.TB, err, target error, msgs ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		c.fail(t, msgs, "error %v, want %v", err, target)
	}
}

func (c checker) ErrorContains(t testing.TB, err error, want string, msgs ...any) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		c.fail(t, msgs, "error %v, want one containing %q", err, want)
	}
}

func (c checker) Equal(t testing.TB, want, got any, msgs ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		c.fail(t, msgs, "\n got: %#v\nwant: %#v", got, want)
	}
}

func (c checker) True(t testing.TB, cond bool, msgs ...any) {
	t.Helper()
	if !cond {
		c.fail(t, msgs, "condition is false")
	}
}

func (c checker) Len(t testing.TB, v any, n int, msgs ...any) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		c.fail(t, msgs, "length %d, want %d", l, n)
	}
}

func (c checker) Contains(t testing.TB, s, sub string, msgs ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		c.fail(t, msgs, "%q does not contain %q", s, sub)
	}
}

func (c checker) NotContains(t testing.TB, s, sub string, msgs ...any) {
	t.Helper()
	if strings.Contains(s, sub) {
		c.fail(t, msgs, "%q contains %q", s, sub)
	}
}

// InDelta compares a report figure with its hand-computed value; nil means
// "no value" (nothing to average).
func (c checker) InDelta(t testing.TB, want, got *float64, msgs ...any) {
	t.Helper()
	switch {
	case want == nil && got == nil:
	case want == nil || got == nil:
		c.fail(t, msgs, "got %v, want %v", fmtp(got), fmtp(want))
	case *want-*got > 1e-3 || *got-*want > 1e-3:
		c.fail(t, msgs, "got %v, want %v", *got, *want)
	}
}

func fmtp(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// eventually polls cond; it waits for the writer goroutine, it does not
// assert on timing.
func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
