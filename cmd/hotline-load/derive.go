package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
)

// derivedConfig is an engine configuration a scenario derives from the
// load configuration (o.config) in work/<name>: the load configuration up
// to its agents: section, its flows, prompts and customers made absolute,
// then replace applied (every key must occur), then the agents the
// scenario writes.
type derivedConfig struct {
	name  string // "bridged config": errors start with it
	base  string // the load configuration's directory
	dir   string
	flows string // the derived configuration's flow directory
}

func newDerivedConfig(o options, name string) (*derivedConfig, error) {
	d := &derivedConfig{name: name + " config"}
	base, err := filepath.Abs(filepath.Dir(o.config))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	d.base, d.dir = base, filepath.Join(o.workDir, name+"-config")
	d.flows = filepath.Join(d.dir, "flows")
	if err := os.MkdirAll(d.flows, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return d, nil
}

// copyFlows copies the load configuration's flow files (all of them when
// names is empty).
func (d *derivedConfig) copyFlows(names ...string) error {
	if len(names) == 0 {
		entries, err := os.ReadDir(filepath.Join(d.base, "flows"))
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	for _, f := range names {
		b, err := os.ReadFile(filepath.Join(d.base, "flows", f))
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		if err := d.writeFlow(f, b); err != nil {
			return err
		}
	}
	return nil
}

func (d *derivedConfig) writeFlow(file string, body []byte) error {
	if err := os.WriteFile(filepath.Join(d.flows, file), body, 0o644); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}

// head is o.config before its agents: section, paths made absolute and
// replace applied.
func (d *derivedConfig) head(o options, replace map[string]string) (string, error) {
	src, err := os.ReadFile(o.config)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.name, err)
	}
	cfg := string(src)
	i := strings.Index(cfg, "\nagents:\n")
	if i < 0 {
		return "", fmt.Errorf("%s: %s has no agents: section at its end", d.name, o.config)
	}
	cfg = cfg[:i+1]
	all := map[string]string{
		"flows: flows":               "flows: " + d.flows,
		"prompts: ../prompts":        "prompts: " + filepath.Join(d.base, "..", "prompts"),
		"file: ../crm/customers.csv": "file: " + filepath.Join(d.base, "..", "crm", "customers.csv"),
	}
	maps.Copy(all, replace)
	for from, to := range all {
		if !strings.Contains(cfg, from) {
			return "", fmt.Errorf("%s: %s lacks %q", d.name, o.config, from)
		}
		cfg = strings.ReplaceAll(cfg, from, to)
	}
	return cfg, nil
}

// write saves the configuration and returns its path.
func (d *derivedConfig) write(cfg string) (string, error) {
	path := filepath.Join(d.dir, "hotline.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("%s: %w", d.name, err)
	}
	return path, nil
}
