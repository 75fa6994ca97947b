package routing

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func demoTiers() []Tier {
	return []Tier{
		{Name: "diamond", Target: 0.95, Threshold: 10 * time.Second},
		{Name: "gold", Target: 0.90, Threshold: 15 * time.Second},
		{Name: "silver", Target: 0.85, Threshold: 20 * time.Second},
		{Name: "normal", Target: 0.80, Threshold: 20 * time.Second},
	}
}

func newTestRouter(t *testing.T, mod func(*Config)) *Router {
	t.Helper()
	cfg := Config{
		Tiers:  demoTiers(),
		Queues: []Queue{{Name: "general"}, {Name: "billing"}, {Name: "technical"}},
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func mustAgent(t *testing.T, r *Router, a Agent, idleAt *time.Time) {
	t.Helper()
	if err := r.SetAgent(a); err != nil {
		t.Fatalf("SetAgent %s: %v", a.ID, err)
	}
	if idleAt != nil {
		if err := r.SetIdle(a.ID, *idleAt); err != nil {
			t.Fatalf("SetIdle %s: %v", a.ID, err)
		}
	}
}

func ptr(t time.Time) *time.Time { return &t }

func mustCall(t *testing.T, r *Router, c Call) {
	t.Helper()
	if err := r.AddCall(c); err != nil {
		t.Fatalf("AddCall %s: %v", c.ID, err)
	}
}

// record n answered calls for a tier, `within` of them inside the threshold.
func record(t *testing.T, r *Router, tier string, n, within int, now time.Time) {
	t.Helper()
	for i := 0; i < n; i++ {
		wait := time.Second
		if i >= within {
			wait = time.Hour
		}
		if err := r.Answered("general", tier, wait, now); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no tiers", func(c *Config) { c.Tiers = nil }, "tiers"},
		{"target 1", func(c *Config) { c.Tiers[0].Target = 1 }, "tiers[0].target"},
		{"zero threshold", func(c *Config) { c.Tiers[1].Threshold = 0 }, "tiers[1].threshold"},
		{"dup tier", func(c *Config) { c.Tiers[1].Name = "diamond" }, "tiers[1].name"},
		{"bad strategy", func(c *Config) { c.Queues[0].Strategy = "psychic" }, "queues[0].strategy"},
		{"bad policy", func(c *Config) { c.Policy = "lottery" }, "policy"},
		{"bad rule", func(c *Config) { c.SkillRule = "x" }, "skill_rule"},
		{"no queues", func(c *Config) { c.Queues = nil }, "queues"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Tiers: demoTiers(), Queues: []Queue{{Name: "general"}}}
			tc.mod(&cfg)
			_, err := New(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalidConfig naming %q", err, tc.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestBadInput(t *testing.T) {
	r := newTestRouter(t, nil)
	if err := r.SetAgent(Agent{ID: "a", Skills: map[string]int{"nope": 1}}); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("unknown queue skill: %v", err)
	}
	if err := r.SetAgent(Agent{ID: "a", Skills: map[string]int{"general": 0}}); !errors.Is(err, ErrInvalidAgent) {
		t.Errorf("level 0: %v", err)
	}
	if err := r.AddCall(Call{ID: "c", Queue: "general", Tier: "platinum", EnqueuedAt: t0}); !errors.Is(err, ErrUnknownTier) {
		t.Errorf("unknown tier: %v", err)
	}
	mustCall(t, r, Call{ID: "c", Queue: "general", Tier: "gold", EnqueuedAt: t0})
	if err := r.AddCall(Call{ID: "c", Queue: "general", Tier: "gold", EnqueuedAt: t0}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	if _, _, err := r.AgentFreed("ghost", t0); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("unknown agent: %v", err)
	}
	if _, err := r.RemoveCall("ghost"); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("unknown call: %v", err)
	}
}

func TestCallArrivedSkillAndStrategy(t *testing.T) {
	type ag struct {
		a      Agent
		idleAt int // seconds; -1 = not idle
	}
	tests := []struct {
		name     string
		strategy Strategy
		agents   []ag
		assigned map[string]int // agent -> calls already given (fewest-calls / round robin)
		call     Call
		want     string
	}{
		{
			name: "first skill beats longer-idle second skill",
			agents: []ag{
				{Agent{ID: "l2", Skills: map[string]int{"general": 2}}, 0},
				{Agent{ID: "l1", Skills: map[string]int{"general": 1}}, 50},
			},
			call: Call{ID: "c", Queue: "general", Tier: "normal"}, want: "l1",
		},
		{
			name: "second skill takes the call when all first-skill agents are busy",
			agents: []ag{
				{Agent{ID: "l1", Skills: map[string]int{"general": 1}}, -1},
				{Agent{ID: "l2", Skills: map[string]int{"general": 2}}, 0},
			},
			call: Call{ID: "c", Queue: "general", Tier: "normal"}, want: "l2",
		},
		{
			name: "longest idle within a level",
			agents: []ag{
				{Agent{ID: "new", Skills: map[string]int{"general": 1}}, 30},
				{Agent{ID: "old", Skills: map[string]int{"general": 1}}, 10},
			},
			call: Call{ID: "c", Queue: "general", Tier: "normal"}, want: "old",
		},
		{
			name: "equal idle time: first to become idle wins (tie break)",
			agents: []ag{
				{Agent{ID: "x", Skills: map[string]int{"general": 1}}, 10},
				{Agent{ID: "y", Skills: map[string]int{"general": 1}}, 10},
			},
			call: Call{ID: "c", Queue: "general", Tier: "normal"}, want: "x",
		},
		{
			name: "agent of other queue is never chosen",
			agents: []ag{
				{Agent{ID: "bill", Skills: map[string]int{"billing": 1}}, 0},
			},
			call: Call{ID: "c", Queue: "general", Tier: "normal"}, want: "",
		},
		{
			name: "fewest calls", strategy: FewestCalls,
			agents: []ag{
				{Agent{ID: "busy", Skills: map[string]int{"general": 1}}, 0},
				{Agent{ID: "lazy", Skills: map[string]int{"general": 1}}, 40},
			},
			assigned: map[string]int{"busy": 3, "lazy": 1},
			call:     Call{ID: "c", Queue: "general", Tier: "normal"}, want: "lazy",
		},
		{
			name: "round robin: least recently assigned", strategy: RoundRobin,
			agents: []ag{
				{Agent{ID: "a", Skills: map[string]int{"general": 1}}, 0},
				{Agent{ID: "b", Skills: map[string]int{"general": 1}}, 40},
			},
			assigned: map[string]int{"b": 1, "a": 1}, // a assigned last
			call:     Call{ID: "c", Queue: "general", Tier: "normal"}, want: "b",
		},
		{
			name: "random still respects levels", strategy: Random,
			agents: []ag{
				{Agent{ID: "l2", Skills: map[string]int{"general": 2}}, 0},
				{Agent{ID: "l1", Skills: map[string]int{"general": 1}}, 40},
			},
			call: Call{ID: "c", Queue: "general", Tier: "normal"}, want: "l1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t, func(c *Config) { c.Queues[0].Strategy = tc.strategy })
			for _, a := range tc.agents {
				mustAgent(t, r, a.a, nil)
			}
			// assignments in map order would be random: apply in agent order, then named order for rr
			for _, a := range tc.agents {
				for i := 0; i < tc.assigned[a.a.ID]; i++ {
					if err := r.Assigned(a.a.ID, "general"); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.strategy == RoundRobin {
				_ = r.Assigned("a", "general")
			}
			for _, a := range tc.agents {
				if a.idleAt >= 0 {
					if err := r.SetIdle(a.a.ID, at(a.idleAt)); err != nil {
						t.Fatal(err)
					}
				}
			}
			tc.call.EnqueuedAt = at(100)
			got, ok, err := r.CallArrived(tc.call, at(100))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Fatalf("agent %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCallArrivedRegionAndGroupWidening(t *testing.T) {
	tests := []struct {
		name   string
		widen  time.Duration // queue region widen
		gWiden time.Duration // tier preferred-group widen
		agents []Agent
		region string
		age    int
		want   string
	}{
		{"same region preferred over longer idle", 30 * time.Second, 0,
			[]Agent{{ID: "n", Region: "north"}, {ID: "s", Region: "south"}}, "south", 0, "s"},
		{"held for region before widening", 30 * time.Second, 0,
			[]Agent{{ID: "n", Region: "north"}}, "south", 10, ""},
		{"widened after region wait", 30 * time.Second, 0,
			[]Agent{{ID: "n", Region: "north"}}, "south", 30, "n"},
		{"zero widen: prefer region but never hold", 0, 0,
			[]Agent{{ID: "n", Region: "north"}}, "south", 0, "n"},
		{"unknown caller region: any agent", 30 * time.Second, 0,
			[]Agent{{ID: "n", Region: "north"}}, "", 0, "n"},
		{"level beats region once widened", 30 * time.Second, 0,
			[]Agent{{ID: "s2", Region: "south", Skills: map[string]int{"general": 2}}, {ID: "n1", Region: "north"}}, "south", 40, "n1"},
		{"preferred group first", 0, 20 * time.Second,
			[]Agent{{ID: "junior"}, {ID: "senior", Groups: []string{"senior"}}}, "", 0, "senior"},
		{"held for preferred group", 0, 20 * time.Second,
			[]Agent{{ID: "junior"}}, "", 5, ""},
		{"preferred group widened", 0, 20 * time.Second,
			[]Agent{{ID: "junior"}}, "", 20, "junior"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t, func(c *Config) {
				c.Queues[0].RegionWiden = tc.widen
				c.Tiers[0].PreferredGroups = []string{"senior"}
				c.Tiers[0].WidenAfter = tc.gWiden
			})
			for i, a := range tc.agents {
				if a.Skills == nil {
					a.Skills = map[string]int{"general": 1}
				}
				mustAgent(t, r, a, ptr(at(i))) // first listed = longest idle
			}
			c := Call{ID: "c", Queue: "general", Tier: "diamond", Region: tc.region, EnqueuedAt: at(100 - tc.age)}
			got, ok, err := r.CallArrived(c, at(100))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Fatalf("agent %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAgentFreedOrdering(t *testing.T) {
	type call struct {
		id, queue, tier, region string
		enq                     int
		prio                    int
	}
	tests := []struct {
		name   string
		mod    func(*Config)
		agent  Agent
		calls  []call
		hist   func(*testing.T, *Router)
		now    int
		want   string
		wantOK bool
	}{
		{
			name:  "longest waiting within a tier",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"young", "general", "gold", "", 95, 0}, {"old", "general", "gold", "", 90, 0}},
			now:   100, want: "old", wantOK: true,
		},
		{
			name:  "largest relative gap first even if younger",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 92, at(50)) // 92 % vs 95: rel gap 0.6
				record(t, r, "normal", 100, 70, at(50))  // 70 % vs 80: rel gap 0.5
			},
			calls: []call{{"norm", "general", "normal", "", 95, 0}, {"dia", "general", "diamond", "", 99, 0}},
			now:   100, want: "dia", wantOK: true,
		},
		{
			name:  "absolute gap orders the other way",
			mod:   func(c *Config) { c.Policy = PolicyGapAbsolute },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 92, at(50)) // abs gap 0.03
				record(t, r, "normal", 100, 70, at(50))  // abs gap 0.10
			},
			calls: []call{{"norm", "general", "normal", "", 95, 0}, {"dia", "general", "diamond", "", 99, 0}},
			now:   100, want: "norm", wantOK: true,
		},
		{
			name:  "gap-relative, equal gaps: longest waiting wins (tie break)",
			mod:   func(c *Config) { c.Policy = PolicyGapRelative },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"dia", "general", "diamond", "", 99, 0}, {"norm", "general", "normal", "", 98, 0}},
			now:   100, want: "norm", wantOK: true,
		},
		{
			name:  "fifo ignores tiers",
			mod:   func(c *Config) { c.Policy = PolicyFIFO },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			hist:  func(t *testing.T, r *Router) { record(t, r, "diamond", 10, 0, at(50)) },
			calls: []call{{"dia", "general", "diamond", "", 99, 0}, {"norm", "general", "normal", "", 97, 0}},
			now:   100, want: "norm", wantOK: true,
		},
		{
			name:  "strict priority serves the top tier",
			mod:   func(c *Config) { c.Policy = PolicyStrict },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"norm", "general", "normal", "", 90, 0}, {"gold", "general", "gold", "", 99, 0}},
			now:   100, want: "gold", wantOK: true,
		},
		{
			name:  "skill first: best-level queue before a bigger gap elsewhere",
			mod:   func(c *Config) { c.SkillRule = SkillFirst },
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist:  func(t *testing.T, r *Router) { record(t, r, "diamond", 10, 0, at(50)) },
			calls: []call{{"gdia", "general", "diamond", "", 95, 0}, {"bnorm", "billing", "normal", "", 99, 0}},
			now:   100, want: "bnorm", wantOK: true,
		},
		{
			name:  "gap first: bigger gap in second-skill queue wins",
			mod:   func(c *Config) { c.SkillRule = GapFirst },
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist:  func(t *testing.T, r *Router) { record(t, r, "diamond", 10, 0, at(50)) },
			calls: []call{{"gdia", "general", "diamond", "", 95, 0}, {"bnorm", "billing", "normal", "", 99, 0}},
			now:   100, want: "gdia", wantOK: true,
		},
		{
			name:  "default skill-unless-behind: tier behind target in second-skill queue wins",
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 90, at(50)) // 90 % < 95 %: behind
				record(t, r, "normal", 100, 95, at(50))  // 95 % > 80 %: on target
			},
			calls: []call{{"gdia", "general", "diamond", "", 95, 0}, {"bnorm", "billing", "normal", "", 90, 0}},
			now:   100, want: "gdia", wantOK: true,
		},
		{
			name:  "default skill-unless-behind: all on target, best level wins over bigger gap",
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 100, at(50)) // gap -1
				record(t, r, "normal", 100, 90, at(50))   // gap -0.5
			},
			calls: []call{{"gnorm", "general", "normal", "", 90, 0}, {"bdia", "billing", "diamond", "", 95, 0}},
			now:   100, want: "bdia", wantOK: true,
		},
		{
			name:  "default, all tiers on target: tier order, not the older caller",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 100, at(50)) // gap -1
				record(t, r, "normal", 100, 90, at(50))   // gap -0.5
			},
			calls: []call{{"norm", "general", "normal", "", 90, 0}, {"dia", "general", "diamond", "", 99, 0}},
			now:   100, want: "dia", wantOK: true,
		},
		{
			name:  "default: within a tier the oldest saveable caller before an older overdue one",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"late", "general", "gold", "", 80, 0}, {"inside", "general", "gold", "", 90, 0}, {"young", "general", "gold", "", 95, 0}},
			now:   100, want: "inside", wantOK: true,
		},
		{
			name:  "default: overdue caller when no saveable one is left",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"late2", "general", "gold", "", 82, 0}, {"late1", "general", "gold", "", 80, 0}},
			now:   100, want: "late1", wantOK: true,
		},
		{
			name:  "default: escalated overdue caller before a saveable one of its tier",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"esc", "general", "gold", "", 30, 0}, {"inside", "general", "gold", "", 95, 0}}, // 70 s ≥ 4×15 s
			now:   100, want: "esc", wantOK: true,
		},
		{
			name:  "gap-relative keeps the oldest caller first within a tier",
			mod:   func(c *Config) { c.Policy = PolicyGapRelative },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"late", "general", "gold", "", 80, 0}, {"inside", "general", "gold", "", 90, 0}},
			now:   100, want: "late", wantOK: true,
		},
		{
			name:  "saveable-any-tier: a behind tier with only overdue callers yields to a saveable caller",
			mod:   func(c *Config) { c.Within = WithinSaveableAnyTier },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			hist:  func(t *testing.T, r *Router) { record(t, r, "diamond", 10, 0, at(50)) },
			calls: []call{{"dia-late", "general", "diamond", "", 85, 0}, {"norm", "general", "normal", "", 90, 0}},
			now:   100, want: "norm", wantOK: true,
		},
		{
			name:  "default: same case, the behind tier is served (saving only within a tier)",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			hist:  func(t *testing.T, r *Router) { record(t, r, "diamond", 10, 0, at(50)) },
			calls: []call{{"dia-late", "general", "diamond", "", 85, 0}, {"norm", "general", "normal", "", 90, 0}},
			now:   100, want: "dia-late", wantOK: true,
		},
		{
			name:  "strict has no hidden escalation",
			mod:   func(c *Config) { c.Policy = PolicyStrict },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"norm", "general", "normal", "", 0, 0}, {"gold", "general", "gold", "", 99, 0}},
			now:   1000, want: "gold", wantOK: true,
		},
		{
			name:  "fifo has no hidden escalation (a tier-dependent bound would reorder it)",
			mod:   func(c *Config) { c.Policy = PolicyFIFO },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"norm", "general", "normal", "", 10, 0}, {"dia", "general", "diamond", "", 40, 0}}, // diamond past 4×10 s, normal not past 4×20 s
			now:   100, want: "norm", wantOK: true,
		},
		{
			name:  "strict with an explicit escalation bound",
			mod:   func(c *Config) { c.Policy = PolicyStrict; c.Tiers[3].EscalateAfter = 80 * time.Second },
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"norm", "general", "normal", "", 0, 0}, {"gold", "general", "gold", "", 99, 0}},
			now:   100, want: "norm", wantOK: true,
		},
		{
			name:  "gap first: same history, bigger gap in second-skill queue wins",
			mod:   func(c *Config) { c.SkillRule = GapFirst; c.OnTarget = OnTargetGap },
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 100, at(50))
				record(t, r, "normal", 100, 90, at(50))
			},
			calls: []call{{"gnorm", "general", "normal", "", 90, 0}, {"bdia", "billing", "diamond", "", 95, 0}},
			now:   100, want: "gnorm", wantOK: true,
		},
		{
			name:  "default: two tiers behind, larger relative gap wins across levels",
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist: func(t *testing.T, r *Router) {
				record(t, r, "diamond", 100, 85, at(50)) // gap 2.0
				record(t, r, "normal", 100, 70, at(50))  // gap 0.5
			},
			calls: []call{{"bnorm", "billing", "normal", "", 90, 0}, {"gdia", "general", "diamond", "", 95, 0}},
			now:   100, want: "gdia", wantOK: true,
		},
		{
			name:  "second-skill queue served when the first is empty",
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			calls: []call{{"g", "general", "normal", "", 99, 0}},
			now:   100, want: "g", wantOK: true,
		},
		{
			name:  "escalated caller beats gap and skill level",
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			hist:  func(t *testing.T, r *Router) { record(t, r, "diamond", 10, 0, at(50)) },
			calls: []call{{"bdia", "billing", "diamond", "", 95, 0}, {"gnorm", "general", "normal", "", 10, 0}}, // 90 s > 4×20 s
			now:   100, want: "gnorm", wantOK: true,
		},
		{
			name:  "escalation can be disabled",
			mod:   func(c *Config) { c.Tiers[3].EscalateAfter = -1; c.SkillRule = SkillFirst },
			agent: Agent{ID: "a", Skills: map[string]int{"billing": 1, "general": 2}},
			calls: []call{{"bdia", "billing", "diamond", "", 95, 0}, {"gnorm", "general", "normal", "", 10, 0}},
			now:   100, want: "bdia", wantOK: true,
		},
		{
			name:  "priority gives a head start within a tier",
			agent: Agent{ID: "a", Skills: map[string]int{"general": 1}},
			calls: []call{{"old", "general", "gold", "", 90, 0}, {"vip", "general", "gold", "", 95, 1}},
			now:   100, want: "vip", wantOK: true,
		},
		{
			name:  "other region held, own region served",
			mod:   func(c *Config) { c.Queues[0].RegionWiden = 30 * time.Second },
			agent: Agent{ID: "a", Region: "north", Skills: map[string]int{"general": 1}},
			calls: []call{{"south", "general", "gold", "south", 90, 0}, {"north", "general", "gold", "north", 95, 0}},
			now:   100, want: "north", wantOK: true,
		},
		{
			name:  "other region after widening, oldest first",
			mod:   func(c *Config) { c.Queues[0].RegionWiden = 30 * time.Second; c.Within = WithinOldest },
			agent: Agent{ID: "a", Region: "north", Skills: map[string]int{"general": 1}},
			calls: []call{{"south", "general", "gold", "south", 60, 0}, {"north", "general", "gold", "north", 95, 0}},
			now:   100, want: "south", wantOK: true,
		},
		{
			name:  "nothing eligible: region held",
			mod:   func(c *Config) { c.Queues[0].RegionWiden = 30 * time.Second },
			agent: Agent{ID: "a", Region: "north", Skills: map[string]int{"general": 1}},
			calls: []call{{"south", "general", "gold", "south", 90, 0}},
			now:   100, wantOK: false,
		},
		{
			name: "preferred group held, then widened",
			mod: func(c *Config) {
				c.Tiers[0].PreferredGroups = []string{"senior"}
				c.Tiers[0].WidenAfter = 8 * time.Second
			},
			agent: Agent{ID: "junior", Skills: map[string]int{"general": 1}},
			calls: []call{{"dia-new", "general", "diamond", "", 95, 0}, {"norm", "general", "normal", "", 99, 0}},
			now:   100, want: "norm", wantOK: true,
		},
		{
			name: "preferred group member takes the held call",
			mod: func(c *Config) {
				c.Tiers[0].PreferredGroups = []string{"senior"}
				c.Tiers[0].WidenAfter = 8 * time.Second
			},
			agent: Agent{ID: "senior", Groups: []string{"senior"}, Skills: map[string]int{"general": 1}},
			calls: []call{{"dia-new", "general", "diamond", "", 95, 0}, {"norm", "general", "normal", "", 99, 0}},
			now:   100, want: "dia-new", wantOK: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t, tc.mod)
			mustAgent(t, r, tc.agent, nil)
			if tc.hist != nil {
				tc.hist(t, r)
			}
			for _, c := range tc.calls {
				mustCall(t, r, Call{ID: c.id, Queue: c.queue, Tier: c.tier, Region: c.region, EnqueuedAt: at(c.enq), Priority: c.prio})
			}
			got, ok, err := r.AgentFreed(tc.agent.ID, at(tc.now))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || (ok && got.ID != tc.want) {
				t.Fatalf("got %q ok=%v, want %q ok=%v", got.ID, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestServiceLevelAccounting(t *testing.T) {
	r := newTestRouter(t, func(c *Config) { c.ShortAbandon = 5 * time.Second })
	// 8 within, 1 late, 1 counted abandon, 1 short abandon (ignored).
	record(t, r, "normal", 9, 8, at(0))
	if _, err := r.Abandoned("general", "normal", 30*time.Second, at(0)); err != nil {
		t.Fatal(err)
	}
	if counted, _ := r.Abandoned("general", "normal", 2*time.Second, at(0)); counted {
		t.Error("short abandon counted")
	}
	sl, _ := r.ServiceLevel("normal", at(1))
	if sl.Answered != 9 || sl.AnsweredWithin != 8 || sl.Abandoned != 1 || sl.Actual != 0.8 {
		t.Fatalf("sl %+v", sl)
	}
	if sl.Gap > 1e-9 || sl.Gap < -1e-9 {
		t.Errorf("gap %v, want 0 at target", sl.Gap)
	}
	// A caller waiting past 20 s counts as a miss while waiting ...
	mustCall(t, r, Call{ID: "w", Queue: "general", Tier: "normal", EnqueuedAt: at(0)})
	if sl, _ := r.ServiceLevel("normal", at(19)); sl.OverdueWaiting != 0 {
		t.Errorf("overdue before threshold: %+v", sl)
	}
	sl, _ = r.ServiceLevel("normal", at(21))
	if sl.OverdueWaiting != 1 || sl.Actual != 8.0/11 {
		t.Fatalf("overdue: %+v", sl)
	}
	qsl, _ := r.QueueServiceLevel("general", "normal", at(21))
	if qsl.OverdueWaiting != 1 || qsl.Answered != 9 {
		t.Fatalf("queue sl: %+v", qsl)
	}
	// ... and once only: answered late, it moves to the answered count.
	if _, err := r.RemoveCall("w"); err != nil {
		t.Fatal(err)
	}
	_ = r.Answered("general", "normal", 25*time.Second, at(25))
	sl, _ = r.ServiceLevel("normal", at(26))
	if sl.OverdueWaiting != 0 || sl.Answered != 10 || sl.Actual != 8.0/11 {
		t.Fatalf("after answer: %+v", sl)
	}
	// The window forgets: an hour later the tier reads 100 %.
	sl, _ = r.ServiceLevel("normal", at(61*60))
	if sl.Answered != 0 || sl.Actual != 1 {
		t.Fatalf("after window: %+v", sl)
	}

	// IgnoreWaitingMisses leaves waiting callers out.
	r2 := newTestRouter(t, func(c *Config) { c.IgnoreWaitingMisses = true })
	mustCall(t, r2, Call{ID: "w", Queue: "general", Tier: "normal", EnqueuedAt: at(0)})
	if sl, _ := r2.ServiceLevel("normal", at(60)); sl.Actual != 1 || sl.OverdueWaiting != 0 {
		t.Fatalf("ignore waiting misses: %+v", sl)
	}
}

func TestGapFormulas(t *testing.T) {
	tests := []struct {
		target, actual, rel, abs float64
	}{
		{0.95, 0.90, 1.0, 0.05},
		{0.80, 0.75, 0.25, 0.05},
		{0.80, 0.90, -0.5, -0.10},
	}
	for _, tc := range tests {
		if g := RelativeGap(tc.target, tc.actual); g < tc.rel-1e-9 || g > tc.rel+1e-9 {
			t.Errorf("RelativeGap(%v,%v)=%v want %v", tc.target, tc.actual, g, tc.rel)
		}
		if g := AbsoluteGap(tc.target, tc.actual); g < tc.abs-1e-9 || g > tc.abs+1e-9 {
			t.Errorf("AbsoluteGap(%v,%v)=%v want %v", tc.target, tc.actual, g, tc.abs)
		}
	}
}

func TestRequeueKeepsHead(t *testing.T) {
	r := newTestRouter(t, nil)
	mustAgent(t, r, Agent{ID: "a", Skills: map[string]int{"general": 1}}, nil)
	mustCall(t, r, Call{ID: "first", Queue: "general", Tier: "gold", EnqueuedAt: at(0)})
	mustCall(t, r, Call{ID: "second", Queue: "general", Tier: "gold", EnqueuedAt: at(5)})
	c, _, _ := r.AgentFreed("a", at(6))
	if c.ID != "first" {
		t.Fatalf("got %s", c.ID)
	}
	if _, err := r.RemoveCall("first"); err != nil {
		t.Fatal(err)
	}
	mustCall(t, r, Call{ID: "third", Queue: "general", Tier: "gold", EnqueuedAt: at(7)})
	// ring no answer: re-queued with its original enqueue time
	mustCall(t, r, c)
	if p, _ := r.Position("first", at(8)); p != 1 {
		t.Errorf("position after requeue %d, want 1", p)
	}
	if p, _ := r.Position("third", at(8)); p != 3 {
		t.Errorf("position of third %d, want 3", p)
	}
	if c2, _, _ := r.AgentFreed("a", at(14)); c2.ID != "first" {
		t.Fatalf("after requeue got %s", c2.ID)
	}
}

func TestNextMatchAfterWidening(t *testing.T) {
	r := newTestRouter(t, func(c *Config) { c.Queues[0].RegionWiden = 30 * time.Second })
	mustAgent(t, r, Agent{ID: "n", Region: "north", Skills: map[string]int{"general": 1}}, ptr(at(0)))
	mustCall(t, r, Call{ID: "s", Queue: "general", Tier: "gold", Region: "south", EnqueuedAt: at(0)})
	if m, ok := r.NextMatch(at(10)); ok {
		t.Fatalf("matched %+v before widening", m)
	}
	m, ok := r.NextMatch(at(31))
	if !ok || m.CallID != "s" || m.AgentID != "n" {
		t.Fatalf("match %+v %v", m, ok)
	}
}

func TestSetAgentReplaceKeepsIdle(t *testing.T) {
	r := newTestRouter(t, nil)
	mustAgent(t, r, Agent{ID: "a", Skills: map[string]int{"general": 1}}, ptr(at(0)))
	mustAgent(t, r, Agent{ID: "b", Skills: map[string]int{"general": 1}}, ptr(at(5)))
	mustAgent(t, r, Agent{ID: "a", Skills: map[string]int{"general": 1, "billing": 1}}, nil)
	if got, _, _ := r.CallArrived(Call{ID: "c", Queue: "general", Tier: "gold", EnqueuedAt: at(9)}, at(9)); got != "a" {
		t.Fatalf("got %s, want a (still longest idle)", got)
	}
	if r.IdleAgents("billing") != 1 || r.IdleAgents("general") != 2 {
		t.Fatalf("idle counts %d %d", r.IdleAgents("billing"), r.IdleAgents("general"))
	}
	if err := r.RemoveAgent("a"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := r.CallArrived(Call{ID: "c", Queue: "general", Tier: "gold", EnqueuedAt: at(9)}, at(9)); got != "b" {
		t.Fatalf("got %s, want b", got)
	}
}

// The announced position is the routing order, not the enqueue order: a
// diamond caller who will be answered next is told "1st", a caller already
// past the threshold is behind the saveable callers of their tier, an
// escalated caller is first.
func TestPositionFollowsRoutingOrder(t *testing.T) {
	pos := func(t *testing.T, r *Router, id string, now time.Time) int {
		t.Helper()
		p, err := r.Position(id, now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("top tier told first", func(t *testing.T) {
		r := newTestRouter(t, nil)
		mustAgent(t, r, Agent{ID: "a", Skills: map[string]int{"general": 1}}, nil)
		for i, id := range []string{"n1", "n2", "n3", "n4"} {
			mustCall(t, r, Call{ID: id, Queue: "general", Tier: "normal", EnqueuedAt: at(i)})
		}
		mustCall(t, r, Call{ID: "dia", Queue: "general", Tier: "diamond", EnqueuedAt: at(5)})
		if p := pos(t, r, "dia", at(8)); p != 1 {
			t.Fatalf("diamond told %d", p)
		}
		if p := pos(t, r, "n1", at(8)); p != 2 {
			t.Fatalf("oldest normal told %d", p)
		}
		if c, _, _ := r.AgentFreed("a", at(8)); c.ID != "dia" {
			t.Fatalf("answered %s first", c.ID)
		}
	})
	t.Run("overdue behind saveable of its tier", func(t *testing.T) {
		r := newTestRouter(t, nil)
		mustAgent(t, r, Agent{ID: "a", Skills: map[string]int{"general": 1}}, nil)
		mustCall(t, r, Call{ID: "late", Queue: "general", Tier: "normal", EnqueuedAt: at(0)})
		mustCall(t, r, Call{ID: "inside", Queue: "general", Tier: "normal", EnqueuedAt: at(15)})
		if p := pos(t, r, "late", at(10)); p != 1 {
			t.Fatalf("at 10 s the oldest is still saveable and first, told %d", p)
		}
		if a, b := pos(t, r, "inside", at(25)), pos(t, r, "late", at(25)); a != 1 || b != 2 {
			t.Fatalf("at 25 s: inside %d, late %d", a, b)
		}
		if c, _, _ := r.AgentFreed("a", at(25)); c.ID != "inside" {
			t.Fatalf("answered %s first", c.ID)
		}
		// Escalated after 4 × 20 s: first again.
		if a, b := pos(t, r, "late", at(80)), pos(t, r, "inside", at(80)); a != 1 || b != 2 {
			t.Fatalf("at 80 s: late %d, inside %d", a, b)
		}
	})
	t.Run("fifo is enqueue order", func(t *testing.T) {
		r := newTestRouter(t, func(c *Config) { c.Policy = PolicyFIFO })
		mustCall(t, r, Call{ID: "norm", Queue: "general", Tier: "normal", EnqueuedAt: at(0)})
		mustCall(t, r, Call{ID: "dia", Queue: "general", Tier: "diamond", EnqueuedAt: at(5)})
		if a, b := pos(t, r, "norm", at(30)), pos(t, r, "dia", at(30)); a != 1 || b != 2 {
			t.Fatalf("norm %d, dia %d", a, b)
		}
	})
	t.Run("other queues do not count", func(t *testing.T) {
		r := newTestRouter(t, nil)
		mustCall(t, r, Call{ID: "b", Queue: "billing", Tier: "diamond", EnqueuedAt: at(0)})
		mustCall(t, r, Call{ID: "g", Queue: "general", Tier: "normal", EnqueuedAt: at(1)})
		if p := pos(t, r, "g", at(2)); p != 1 {
			t.Fatalf("told %d", p)
		}
	})
	if _, err := newTestRouter(t, nil).Position("nope", at(0)); !errors.Is(err, ErrUnknownCall) {
		t.Fatalf("unknown call: %v", err)
	}
}
