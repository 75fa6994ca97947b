package engine

import (
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/routing"
	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/sip"
)

// plan is what the engine derives from a configuration for its parts:
// routing and ACD settings, accounts, phone credentials, trunks, recording
// policies, call control's lists. Building it checks everything the parts
// would refuse, with no side effect (no port, no directory, no Redis), so
// that -check, start-up and a reload judge a configuration the same way.
type plan struct {
	cfg      *config.Config
	acd      acd.Settings
	agents   map[string]config.Agent
	accounts []agentapi.Account
	creds    map[string]sip.Credential
	trunks   []sip.Trunk
	live     callctl.Live
	phone    []acd.AgentProfile // phone-only sign-in candidates (role agent)
	breaks   []string
	queues   []string
	targets  map[string]cdr.Target
	flowOpts ivr.LoadOptions
}

func newPlan(cfg *config.Config) (*plan, error) {
	p := &plan{cfg: cfg, agents: map[string]config.Agent{}, creds: map[string]sip.Credential{}, targets: map[string]cdr.Target{},
		flowOpts: ivr.LoadOptions{PromptRoot: cfg.Resolve(cfg.Prompts)}}
	rc := routing.Config{Policy: routing.TierPolicy(cfg.ACD.Policy), Window: cfg.ACD.Window.D(), ShortAbandon: cfg.ACD.ShortAbandon.D()}
	for _, t := range cfg.Tiers {
		rc.Tiers = append(rc.Tiers, routing.Tier{Name: t.Name, Target: t.Target / 100, Threshold: t.Within.D(), PreferredGroups: t.PreferredGroups, WidenAfter: t.WidenAfter.D()})
		p.targets[t.Name] = cdr.Target{Target: t.Target / 100, Within: t.Within.D()}
	}
	qs := map[string]acd.QueueSettings{}
	policy := map[string]recording.Policy{}
	for _, q := range cfg.Queues {
		rc.Queues = append(rc.Queues, routing.Queue{Name: q.Name, Strategy: routing.Strategy(q.Strategy), RegionWiden: q.RegionWiden.D()})
		qs[q.Name] = acd.QueueSettings{WrapUp: q.WrapUp.D(), MaxWait: q.MaxWait.D(), MaxSize: q.MaxSize}
		pol, err := recording.ParsePolicy(orDefault(q.Record, "always"))
		if err != nil {
			return nil, fmt.Errorf("engine: queues %s record: %w", q.Name, err)
		}
		policy[q.Name] = pol
		p.queues = append(p.queues, q.Name)
	}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("engine: %s: routing: %w", cfg.File, err)
	}
	breaks := map[string]time.Duration{}
	for k, v := range cfg.ACD.BreakReasons {
		breaks[k] = v.D()
		p.breaks = append(p.breaks, k)
	}
	sort.Strings(p.breaks)
	profiles := map[string]acd.AgentProfile{}
	for _, a := range cfg.Agents {
		p.agents[a.ID] = a
		prof := acd.AgentProfile{ID: a.ID, Skills: a.Skills, Groups: a.Groups, Region: a.Region, Mode: acd.AnswerMode(a.Mode)}
		p.accounts = append(p.accounts, agentapi.Account{
			ID: a.ID, Name: a.Name, Role: agentapi.Role(a.Role), Password: a.Password, Profile: prof,
			Supervises: nil, // supervisors watch every agent until groups are configured
		})
		p.creds[a.ID] = sip.Credential{User: a.ID, HA1: sip.HA1(a.ID, cfg.SIP.Realm, a.Password)}
		if a.Role == "agent" {
			p.phone = append(p.phone, prof)
		}
		if a.Role == "agent" || len(a.Skills) > 0 {
			profiles[a.ID] = prof // an ACD seat
		}
	}
	defaultTier := ""
	for _, t := range cfg.Tiers {
		if t.Name == crm.DefaultTier {
			defaultTier = t.Name
		}
	}
	p.acd = acd.Settings{Routing: rc, RingTimeout: cfg.ACD.RingTimeout.D(), WrapUp: cfg.ACD.WrapUp.D(), Queues: qs,
		BreakReasons: breaks, AdjustWarn: cfg.ACD.AdjustWarn.D(), Profiles: profiles, DefaultTier: defaultTier}
	for _, t := range cfg.Trunks {
		p.trunks = append(p.trunks, sip.Trunk{Name: t.Name, Sources: t.TrunkPrefixes(), Outbound: t.Outbound})
	}
	p.live = callctl.Live{Queues: p.queues, RecordPolicy: policy}
	for _, t := range cfg.Trunks {
		if t.Outbound != "" {
			p.live.Outbound = t.Outbound
			break
		}
	}
	return p, nil
}

// Check validates a configuration and its flows the way start-up and a
// reload do, with no side effect at all: no port bound, no directory
// created or repaired, no Redis contacted, no customer imported. It is
// `hotline -check`, safe on a host where the engine is running.
func Check(cfg *config.Config) error { return CheckFS(cfg, nil) }

// CheckFS is Check for a configuration inside a file system (fsys nil: the
// operating system's files), e.g. the embedded demo read in place.
func CheckFS(cfg *config.Config, fsys fs.FS) error {
	p, err := newPlan(cfg)
	if err != nil {
		return err
	}
	p.flowOpts.FS = fsys
	if _, err := ivr.NewRegistry(p.flowOpts).Prepare(cfg.Resolve(cfg.Flows), cfg.AccessNumbers); err != nil {
		return fmt.Errorf("engine: flows: %w", err)
	}
	if len(cfg.CRM.Regions) > 0 {
		if _, err := crm.NewPrefixTable(cfg.CRM.Regions); err != nil {
			return fmt.Errorf("engine: crm.regions: %w", err)
		}
	}
	// Files the engine reads at start-up must be readable (read, not
	// imported).
	files := map[string]string{"crm.file": cfg.CRM.File}
	if cfg.Store == "redis" && cfg.Redis.TLS {
		files["redis.ca"] = cfg.Redis.CA
	}
	for key, f := range files {
		if f == "" {
			continue
		}
		var err error
		if fsys != nil {
			_, err = fs.Stat(fsys, cfg.Resolve(f))
		} else {
			var fh *os.File
			if fh, err = os.Open(cfg.Resolve(f)); err == nil {
				fh.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("engine: %s: %s: %w", cfg.File, key, err)
		}
	}
	if _, _, err := cfg.RTPRange(); err != nil {
		return fmt.Errorf("engine: sip.rtp_ports: %w", err)
	}
	return nil
}
