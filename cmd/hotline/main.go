// Command hotline runs the Hotline telephony core: SIP/RTP, IVR, ACD and the
// agent API in one process.
//
//	hotline                      # the embedded demo (see README)
//	hotline -config hotline.yaml # your configuration
//	hotline -check -config f     # validate a configuration and its flows, then exit
//	hotline report [-config f] [-by tier|wrap_up_code|…] [-interval 1h] [-csv]  # service figures from call records
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hotlinecc/hotline"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/engine"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hotline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "report" {
		return report(args[1:])
	}
	fs := flag.NewFlagSet("hotline", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: the embedded demo)")
	check := fs.Bool("check", false, "validate the configuration and flows, then exit")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	slog.SetDefault(log)

	if *check && *cfgPath == "" {
		// The embedded demo is checked in place: not even a temporary copy.
		cfg, err := config.LoadFS(hotline.Demo, "testdata/hotline.yaml", "embedded demo (testdata/hotline.yaml)")
		if err != nil {
			return err
		}
		if err := engine.CheckFS(cfg, hotline.Demo); err != nil {
			return err
		}
		fmt.Println("configuration and flows are valid")
		return nil
	}
	path := *cfgPath
	if path == "" {
		dir, err := engine.ExtractDemo(hotline.Demo)
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "testdata", "hotline.yaml")
		log.Info("using the embedded demo configuration", "dir", dir)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if *cfgPath == "" {
		cfg.File = "embedded demo (testdata/hotline.yaml)"
	}
	if *check {
		// No side effect at all: no port, no directory, no Redis, no import.
		if err := engine.Check(cfg); err != nil {
			return err
		}
		fmt.Println("configuration and flows are valid")
		return nil
	}
	eng, err := engine.New(cfg, log)
	if err != nil {
		return err
	}
	eng.ConfigPath = path
	// The first SIGTERM (or SIGINT) drains: new calls are refused, calls in
	// progress get shutdown.grace to end; a second one ends them at once.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		stopping := false
		for {
			select {
			case <-eng.Done():
				return
			case sig := <-sigs:
				switch {
				case sig == syscall.SIGHUP:
					_, _ = eng.Reload()          // errors are logged; the running configuration stays
					_ = eng.ReloadCertificates() // likewise the certificates in use
				case !stopping:
					stopping = true
					log.Warn("stop requested: draining (a second signal ends the calls at once)", "signal", sig.String())
					stop()
				default:
					log.Warn("second stop signal: ending the calls still up now", "signal", sig.String())
					eng.Abort()
				}
			}
		}
	}()
	if err := eng.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("hotline stopped")
	return nil
}

// report is `hotline report [-config F] [report flags]`: service figures
// from the call records, with the configuration's record directory, tier
// targets and thresholds (the embedded demo's without -config, as
// `hotline` itself runs).
func report(args []string) error {
	err := cdr.ReportCommand(args, os.Stdout, os.Stderr, reportSetup, time.Now())
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func reportSetup(path string) (cdr.ReportSetup, error) {
	var cfg *config.Config
	var err error
	if path == "" {
		data, rerr := hotline.Demo.ReadFile("testdata/hotline.yaml")
		if rerr != nil {
			return cdr.ReportSetup{}, fmt.Errorf("embedded demo: %w", rerr)
		}
		if cfg, err = config.Parse("embedded demo (testdata/hotline.yaml)", data); err != nil {
			return cdr.ReportSetup{}, err
		}
		cfg.Dir = "."
		cfg.ApplyEnv(os.Getenv)
	} else if cfg, err = config.Load(path); err != nil {
		return cdr.ReportSetup{}, err
	}
	targets := map[string]cdr.Target{}
	for _, t := range cfg.Tiers {
		targets[t.Name] = cdr.Target{Target: t.Target / 100, Within: t.Within.D()}
	}
	dir := filepath.Join(os.TempDir(), "hotline-records") // the engine's default
	if cfg.Records != "" {
		dir = cfg.Resolve(cfg.Records)
	}
	return cdr.ReportSetup{Dir: dir, Base: cdr.Options{Targets: targets, ShortAbandon: cfg.ACD.ShortAbandon.D()}}, nil
}
