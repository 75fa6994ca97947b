package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// strategy is a routing configuration under test.
type strategy struct {
	name string
	desc string
	// rule: one of the ACD's selectable policies (acd.policy) as shipped;
	// the others are variants of the default for the argument.
	rule bool
	mod  func(*routing.Config)
}

// defaultName is the strategy that is the router's default configuration.
const defaultName = "gap-saveable"

// noEscalation disables escalation for every tier.
func noEscalation(c *routing.Config) {
	for i := range c.Tiers {
		c.Tiers[i].EscalateAfter = -1
	}
}

// escalation gives every tier the gap rules' default bound (for the
// strict variants, which have none by default).
func escalation(c *routing.Config) {
	for i := range c.Tiers {
		if c.Tiers[i].EscalateAfter == 0 {
			c.Tiers[i].EscalateAfter = routing.DefaultEscalateFactor * c.Tiers[i].Threshold
		}
	}
}

func strategies() []strategy {
	return []strategy{
		{defaultName, "DEFAULT: relative gap among tiers behind target, tier order among tiers on target, the oldest caller still inside n s first within a tier, skill-unless-behind, escalation after 4×n", true,
			func(c *routing.Config) { c.Policy = routing.PolicyGapSaveable }},
		{"gap-relative", "relative gap (target − actual) ÷ (1 − target) for every tier, oldest caller first within a tier, skill-unless-behind, escalation after 4×n (the round-one default)", true,
			func(c *routing.Config) { c.Policy = routing.PolicyGapRelative }},
		{"gap-absolute", "gap in SL points (target − actual), otherwise as gap-relative", true,
			func(c *routing.Config) { c.Policy = routing.PolicyGapAbsolute }},
		// The baselines order callers across all the agent's queues (skill
		// level only breaks ties) so that only the tier order differs.
		{"fifo", "oldest caller first across the agent's queues, tiers ignored, no escalation", true,
			func(c *routing.Config) { c.Policy, c.SkillRule = routing.PolicyFIFO, routing.GapFirst }},
		{"strict", "strict tier priority across the agent's queues, oldest first within a tier, no escalation", true,
			func(c *routing.Config) { c.Policy, c.SkillRule = routing.PolicyStrict, routing.GapFirst }},
		{"strict+esc", "strict, plus escalation after 4×n (as the gap rules have)", false,
			func(c *routing.Config) {
				c.Policy, c.SkillRule = routing.PolicyStrict, routing.GapFirst
				escalation(c)
			}},
		{"strict+save", "strict, saveable callers first within a tier, escalation after 4×n", false,
			func(c *routing.Config) {
				c.Policy, c.SkillRule, c.Within = routing.PolicyStrict, routing.GapFirst, routing.WithinSaveable
				escalation(c)
			}},
		{"gap-saveable/on-target-gap", "default, but on-target tiers by smallest surplus (as gap-relative)", false,
			func(c *routing.Config) { c.Policy, c.OnTarget = routing.PolicyGapSaveable, routing.OnTargetGap }},
		{"gap-relative/tier-order", "gap-relative, but on-target tiers in tier order (only part (b) of the default)", false,
			func(c *routing.Config) { c.Policy, c.OnTarget = routing.PolicyGapRelative, routing.OnTargetTierOrder }},
		{"gap-relative/no-waiting", "gap-relative, overdue waiting callers not counted as misses until they end (the issue's check of round one)", false,
			func(c *routing.Config) { c.Policy, c.IgnoreWaitingMisses = routing.PolicyGapRelative, true }},
		{"gap-saveable/any-tier", "default, and a tier whose best caller is overdue yields to any saveable caller", false,
			func(c *routing.Config) { c.Policy, c.Within = routing.PolicyGapSaveable, routing.WithinSaveableAnyTier }},
		{"gap-saveable/no-waiting", "default, but callers waiting past n s not counted as misses until they end", false,
			func(c *routing.Config) { c.Policy, c.IgnoreWaitingMisses = routing.PolicyGapSaveable, true }},
		{"gap-saveable/skill-first", "default, but the agent's best skill level always first", false,
			func(c *routing.Config) { c.Policy, c.SkillRule = routing.PolicyGapSaveable, routing.SkillFirst }},
		{"gap-saveable/gap-first", "default, but the tier order before the skill level", false,
			func(c *routing.Config) { c.Policy, c.SkillRule = routing.PolicyGapSaveable, routing.GapFirst }},
		{"gap-saveable/window-15m", "default, with a 15-minute SL window", false,
			func(c *routing.Config) { c.Policy, c.Window, c.Buckets = routing.PolicyGapSaveable, 15*time.Minute, 15 }},
		{"gap-saveable/escalate-6n", "default, escalation after 6×n instead of 4×n", false,
			func(c *routing.Config) {
				c.Policy = routing.PolicyGapSaveable
				escF(c, 6)
			}},
		{"gap-saveable/no-escalate", "default, without age escalation", false,
			func(c *routing.Config) {
				c.Policy = routing.PolicyGapSaveable
				noEscalation(c)
			}},
	}
}

// selectStrategies resolves -strategies: "rules" (the selectable
// policies), "all", or a comma-separated list of names. The default rule is
// always included, first, since every table compares against it.
func selectStrategies(spec string) ([]strategy, error) {
	all := strategies()
	var out []strategy
	switch spec {
	case "", "rules":
		for _, s := range all {
			if s.rule {
				out = append(out, s)
			}
		}
		return out, nil
	case "all":
		return all, nil
	}
	byName := map[string]strategy{}
	for _, s := range all {
		byName[s.name] = s
	}
	out = append(out, byName[defaultName])
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		s, ok := byName[n]
		if !ok {
			var names []string
			for _, s := range all {
				names = append(names, s.name)
			}
			return nil, fmt.Errorf("-strategies: unknown %q (rules, all, or some of %s)", n, strings.Join(names, ", "))
		}
		if n != defaultName {
			out = append(out, s)
		}
	}
	return out, nil
}

// escF sets every tier's escalation bound to f × its threshold.
func escF(c *routing.Config, f int) {
	for i := range c.Tiers {
		c.Tiers[i].EscalateAfter = time.Duration(f) * c.Tiers[i].Threshold
	}
}
