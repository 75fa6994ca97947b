// Command hotline-testsuite runs Hotline's whole test suite the way CI does:
// it installs the real peers the tests drive (SIPp, sox, redis-server,
// chromium, promtool, baresip) when they are
// missing, then runs go vet and go test -race over every package.
//
//	go run ./cmd/hotline-testsuite            # everything
//	go run ./cmd/hotline-testsuite -run TestX # extra flags go to go test
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"
)

// tools maps each binary the tests exec to the Debian package providing it.
var tools = []struct{ bin, pkg string }{
	{"sipp", "sip-tester"},           // trunk and agent phones in the end-to-end tests
	{"sox", "sox"},                   // checks recordings
	{"redis-server", "redis-server"}, // the Redis stream sink of the call records
	{"chromium", "chromium"},         // the desktop page test (driven over the DevTools protocol)
	{"promtool", "prometheus"},       // checks and unit-tests the shipped alert rules (cmd/hotline/ops)
	{"baresip", "baresip"},           // a softphone over SIP/TLS with SRTP (Debian's SIPp has neither)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hotline-testsuite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, extra []string) error {
	if err := install(ctx); err != nil {
		return err
	}
	if err := step(ctx, "go", "vet", "./..."); err != nil {
		return err
	}
	args := append([]string{"test", "-race", "-count=1", "-timeout", "25m"}, extra...)
	args = append(args, "./...")
	return step(ctx, "go", args...)
}

// install apt-gets the missing tools. Tests never skip for a missing tool:
// they fail, so a machine where this cannot install is reported, not hidden.
func install(ctx context.Context) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Printf("installing test tools: %s\n", strings.Join(missing, " "))
	sudo := []string{}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return fmt.Errorf("missing %s and not root: install them with apt-get", strings.Join(missing, " "))
		}
		sudo = []string{"sudo"}
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	update := append(append([]string{}, sudo...), "apt-get", "update")
	if err := stepEnv(ctx, env, update[0], update[1:]...); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	inst := append(append([]string{}, sudo...), append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, missing...)...)
	if err := stepEnv(ctx, env, inst[0], inst[1:]...); err != nil {
		return fmt.Errorf("apt-get install: %w", err)
	}
	return nil
}

func step(ctx context.Context, name string, args ...string) error {
	return stepEnv(ctx, os.Environ(), name, args...)
}

func stepEnv(ctx context.Context, env []string, name string, args ...string) error {
	start := time.Now()
	fmt.Printf("+ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = os.Stdout, os.Stderr, env
	err := cmd.Run()
	fmt.Printf("  (%s, %s)\n", name, time.Since(start).Round(time.Second))
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
