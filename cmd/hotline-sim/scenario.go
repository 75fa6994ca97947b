package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotlinecc/hotline/routing"
)

// Shipped scenarios, selectable by name (file name without .yaml).
//
//go:embed scenarios/*.yaml
var shipped embed.FS

// scenarioFile is the YAML form of a scenario; see scenarios/README.md.
type scenarioFile struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Start is the clock time of hour 0, for labels only ("08:00").
	Start string `yaml:"start"`
	// Load is the base offered load as a share of agent capacity (all
	// calls handled at skill level 1); LoadCurve multiplies it hour by
	// hour and its length is the day.
	Load      float64   `yaml:"load"`
	LoadCurve []float64 `yaml:"load_curve"`
	// PeakHour is the hour reported as "peak"; default the highest hour of
	// LoadCurve.
	PeakHour *int `yaml:"peak_hour"`
	// WrapUp is the after-call work of every call.
	WrapUp time.Duration `yaml:"wrap_up"`
	// LevelSlowdown: a level-n agent takes (1 + LevelSlowdown×(n−1)) × the
	// handle time.
	LevelSlowdown float64       `yaml:"level_slowdown"`
	ShortAbandon  time.Duration `yaml:"short_abandon"`
	Handle        dist          `yaml:"handle"`
	// CallerRegions: share of callers per region; the rest have none.
	CallerRegions map[string]float64 `yaml:"caller_regions"`
	Tiers         []struct {
		Name            string        `yaml:"name"`
		Target          float64       `yaml:"target"` // percent
		Within          time.Duration `yaml:"within"`
		Share           float64       `yaml:"share"`
		Patience        dist          `yaml:"patience"`
		PreferredGroups []string      `yaml:"preferred_groups"`
		WidenAfter      time.Duration `yaml:"widen_after"`
		EscalateAfter   time.Duration `yaml:"escalate_after"`
	} `yaml:"tiers"`
	Queues []struct {
		Name        string        `yaml:"name"`
		Share       float64       `yaml:"share"`
		Strategy    string        `yaml:"strategy"`
		RegionWiden time.Duration `yaml:"region_widen"`
		Handle      *dist         `yaml:"handle"` // overrides the global handle time
	} `yaml:"queues"`
	Agents []struct {
		Count   int            `yaml:"count"`
		Skills  map[string]int `yaml:"skills"`
		Regions []string       `yaml:"regions"` // assigned round-robin
		Groups  []string       `yaml:"groups"`
	} `yaml:"agents"`
}

// tierSpec is a tier plus its share of traffic and caller patience.
type tierSpec struct {
	routing.Tier
	share    float64
	patience dist
}

type queueSpec struct {
	routing.Queue
	share  float64
	handle dist
}

// model is a validated scenario at one load level, ready to draw days from.
type model struct {
	name, desc    string
	start         time.Duration // clock time of hour 0
	load          float64
	curve         []float64
	day           time.Duration
	peakStart     time.Duration
	peakEnd       time.Duration
	wrapUp        time.Duration
	levelSlow     float64
	shortAbandon  time.Duration
	tiers         []tierSpec
	queues        []queueSpec
	agents        []routing.Agent
	callerRegions []string
	regionShare   []float64
	baseRate      float64 // calls per second at curve 1
}

// scenario is one drawn day: the model plus pre-drawn callers, identical
// for every strategy (paired comparison).
type scenario struct {
	*model
	seed     uint64
	arrivals []arrival
}

// arrival is one pre-drawn caller.
type arrival struct {
	at       time.Duration
	tier     int
	queue    int
	region   string
	patience time.Duration
	handle   time.Duration // at skill level 1
}

// loadScenario reads a shipped scenario by name or a YAML file by path.
func loadScenario(nameOrPath string) (*model, error) {
	var data []byte
	var err error
	src := nameOrPath
	if strings.ContainsAny(nameOrPath, "/\\") || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		data, err = os.ReadFile(nameOrPath)
	} else {
		src = "scenarios/" + nameOrPath + ".yaml"
		if data, err = shipped.ReadFile(src); err != nil {
			return nil, fmt.Errorf("scenario %q: not a shipped scenario (%s) nor a .yaml path", nameOrPath, strings.Join(shippedNames(), ", "))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	m, err := parseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return m, nil
}

// shippedNames lists the embedded scenarios in file order.
func shippedNames() []string {
	entries, _ := shipped.ReadDir("scenarios")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	return out
}

func parseScenario(data []byte) (*model, error) {
	var f scenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty scenario")
		}
		return nil, fmt.Errorf("parse: %w", err)
	}
	return f.build()
}

func (f *scenarioFile) build() (*model, error) {
	bad := func(format string, a ...any) error { return fmt.Errorf(format, a...) }
	m := &model{name: f.Name, desc: strings.TrimSpace(f.Description), load: f.Load, curve: f.LoadCurve,
		wrapUp: f.WrapUp, levelSlow: f.LevelSlowdown, shortAbandon: f.ShortAbandon}
	if m.name == "" {
		return nil, bad("name: missing")
	}
	if f.Start != "" {
		t, err := time.Parse("15:04", f.Start)
		if err != nil {
			return nil, bad("start: %q is not HH:MM", f.Start)
		}
		m.start = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	if !(f.Load > 0 && f.Load < 10) {
		return nil, bad("load: %v must be a positive share of capacity (e.g. 0.9)", f.Load)
	}
	if len(f.LoadCurve) == 0 || len(f.LoadCurve) > 24 {
		return nil, bad("load_curve: one multiplier per hour, 1 to 24 hours")
	}
	for i, v := range f.LoadCurve {
		if v < 0 {
			return nil, bad("load_curve[%d]: negative", i)
		}
	}
	m.day = time.Duration(len(f.LoadCurve)) * time.Hour
	peak := 0
	for i, v := range f.LoadCurve {
		if v > f.LoadCurve[peak] {
			peak = i
		}
	}
	if f.PeakHour != nil {
		if *f.PeakHour < 0 || *f.PeakHour >= len(f.LoadCurve) {
			return nil, bad("peak_hour: %d outside the %d-hour day", *f.PeakHour, len(f.LoadCurve))
		}
		peak = *f.PeakHour
	}
	m.peakStart, m.peakEnd = time.Duration(peak)*time.Hour, time.Duration(peak+1)*time.Hour
	if f.WrapUp < 0 || f.LevelSlowdown < 0 || f.ShortAbandon < 0 {
		return nil, bad("wrap_up, level_slowdown, short_abandon: must not be negative")
	}
	if m.shortAbandon == 0 {
		m.shortAbandon = 5 * time.Second
	}
	if err := f.Handle.validate("handle"); err != nil {
		return nil, err
	}
	sum := 0.0
	for i, t := range f.Tiers {
		key := fmt.Sprintf("tiers[%d]", i)
		if t.Share <= 0 {
			return nil, bad("%s.share: must be positive", key)
		}
		if err := t.Patience.validate(key + ".patience"); err != nil {
			return nil, err
		}
		sum += t.Share
		m.tiers = append(m.tiers, tierSpec{Tier: routing.Tier{Name: t.Name, Target: t.Target / 100, Threshold: t.Within,
			PreferredGroups: t.PreferredGroups, WidenAfter: t.WidenAfter, EscalateAfter: t.EscalateAfter}, share: t.Share, patience: t.Patience})
	}
	if len(f.Tiers) == 0 {
		return nil, bad("tiers: at least one")
	}
	if math.Abs(sum-1) > 1e-6 {
		return nil, bad("tiers: shares add up to %v, want 1", sum)
	}
	sum = 0
	for i, q := range f.Queues {
		key := fmt.Sprintf("queues[%d]", i)
		if q.Share <= 0 {
			return nil, bad("%s.share: must be positive", key)
		}
		qs := queueSpec{Queue: routing.Queue{Name: q.Name, Strategy: routing.Strategy(q.Strategy), RegionWiden: q.RegionWiden}, share: q.Share, handle: f.Handle}
		if q.Handle != nil {
			if err := q.Handle.validate(key + ".handle"); err != nil {
				return nil, err
			}
			qs.handle = *q.Handle
		}
		sum += q.Share
		m.queues = append(m.queues, qs)
	}
	if len(f.Queues) == 0 {
		return nil, bad("queues: at least one")
	}
	if math.Abs(sum-1) > 1e-6 {
		return nil, bad("queues: shares add up to %v, want 1", sum)
	}
	sum = 0
	for r := range f.CallerRegions {
		m.callerRegions = append(m.callerRegions, r)
	}
	slices.Sort(m.callerRegions)
	for _, r := range m.callerRegions {
		v := f.CallerRegions[r]
		if v < 0 {
			return nil, bad("caller_regions.%s: negative", r)
		}
		sum += v
		m.regionShare = append(m.regionShare, v)
	}
	if sum > 1+1e-6 {
		return nil, bad("caller_regions: shares add up to %v > 1", sum)
	}
	n := 0
	for i, g := range f.Agents {
		key := fmt.Sprintf("agents[%d]", i)
		if g.Count < 1 {
			return nil, bad("%s.count: must be at least 1", key)
		}
		if len(g.Skills) == 0 {
			return nil, bad("%s.skills: at least one queue", key)
		}
		for k := 0; k < g.Count; k++ {
			n++
			a := routing.Agent{ID: fmt.Sprintf("%04d", 1000+n), Skills: g.Skills, Groups: g.Groups}
			if len(g.Regions) > 0 {
				a.Region = g.Regions[k%len(g.Regions)]
			}
			m.agents = append(m.agents, a)
		}
	}
	if n == 0 {
		return nil, bad("agents: at least one group")
	}
	// Validate tiers, queues and skills with the router itself, so the
	// scenario is held to the same rules as the ACD configuration.
	r, err := routing.New(m.routingConfig(strategy{mod: func(*routing.Config) {}}))
	if err != nil {
		return nil, err
	}
	for _, a := range m.agents {
		if err := r.SetAgent(a); err != nil {
			return nil, fmt.Errorf("agents: %w", err)
		}
	}
	m.setLoad(f.Load)
	return m, nil
}

// meanHandle is the traffic-weighted mean handle time at level 1.
func (m *model) meanHandle() time.Duration {
	var s float64
	for _, q := range m.queues {
		s += q.share * q.handle.mean().Seconds()
	}
	return time.Duration(s * float64(time.Second))
}

// withLoad returns a copy of m at another base load.
func (m *model) withLoad(load float64) *model {
	c := *m
	c.setLoad(load)
	return &c
}

func (m *model) setLoad(load float64) {
	m.load = load
	capacity := float64(len(m.agents)) / (m.meanHandle() + m.wrapUp).Seconds()
	m.baseRate = load * capacity
}

func (m *model) profile(t time.Duration) float64 {
	h := int(t / time.Hour)
	if h >= len(m.curve) {
		h = len(m.curve) - 1
	}
	return m.curve[h]
}

func (m *model) peakLoad() float64 { return m.load * m.curve[int(m.peakStart/time.Hour)] }

// draw pre-draws one day of callers for seed.
func (m *model) draw(seed uint64) *scenario {
	sc := &scenario{model: m, seed: seed}
	rng := rand.New(rand.NewPCG(seed, 0xCA11))
	maxRate := m.baseRate * slices.Max(m.curve)
	if maxRate <= 0 {
		return sc
	}
	// Non-homogeneous Poisson arrivals by thinning.
	for t := time.Duration(0); ; {
		t += time.Duration(rng.ExpFloat64() / maxRate * float64(time.Second))
		if t >= m.day {
			break
		}
		if rng.Float64() > m.baseRate*m.profile(t)/maxRate {
			continue
		}
		a := arrival{at: t, tier: pick(rng, len(m.tiers), func(i int) float64 { return m.tiers[i].share }),
			queue: pick(rng, len(m.queues), func(i int) float64 { return m.queues[i].share })}
		r := rng.Float64()
		for i, s := range m.regionShare {
			if r < s {
				a.region = m.callerRegions[i]
				break
			}
			r -= s
		}
		a.patience = m.tiers[a.tier].patience.draw(rng)
		a.handle = m.queues[a.queue].handle.draw(rng)
		sc.arrivals = append(sc.arrivals, a)
	}
	return sc
}

func pick(rng *rand.Rand, n int, share func(int) float64) int {
	r := rng.Float64()
	for i := 0; i < n-1; i++ {
		if r < share(i) {
			return i
		}
		r -= share(i)
	}
	return n - 1
}

func (m *model) routingConfig(st strategy) routing.Config {
	c := routing.Config{ShortAbandon: m.shortAbandon}
	for _, t := range m.tiers {
		c.Tiers = append(c.Tiers, t.Tier)
	}
	for _, q := range m.queues {
		c.Queues = append(c.Queues, q.Queue)
	}
	st.mod(&c)
	return c
}

// clock formats an offset into the day as a wall-clock time.
func (m *model) clock(d time.Duration) string {
	d += m.start
	return fmt.Sprintf("%02d:%02d", int(d.Hours())%24, int(d.Minutes())%60)
}
