package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/campaign"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media/sdp"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/routing"
	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/sip"
)

// plan is what the engine derives from a configuration for its parts:
// routing and ACD settings, accounts, phone credentials, trunks, recording
// policies, call control's lists, the desktop's extras. Building it checks
// everything the parts would refuse, with no side effect (no port, no
// directory, no Redis) and no password hashed, so that -check, start-up
// and a reload judge a configuration the same way. hashPasswords then
// completes the credentials (edge.go) before the plan goes in service.
type plan struct {
	cfg *config.Config
	acd acd.Settings
	// agents are the configured agents; once hashed, with no clear
	// password (PasswordHash set, Password empty).
	agents map[string]config.Agent
	// creds are each agent's secrets (edge.go): the bcrypt/argon2id hash
	// for the desktop and HTTP basic auth, the digest HA1 for the phone,
	// the phone's SRTP policy.
	creds  map[string]credential
	trunks []sip.Trunk
	// exempt are the trunks' sources, which the guard does not rate-cap.
	exempt   []netip.Prefix
	live     callctl.Live
	phone    []acd.AgentProfile // phone-only sign-in candidates (role agent)
	breaks   []string
	queues   []string
	targets  map[string]cdr.Target
	desk     agentapi.DeskSettings
	names    campaign.Names // what campaign files may refer to
	flowOpts ivr.LoadOptions
	hashed   bool
}

func newPlan(cfg *config.Config) (*plan, error) {
	p := &plan{cfg: cfg, agents: map[string]config.Agent{}, creds: map[string]credential{}, targets: map[string]cdr.Target{},
		flowOpts: ivr.LoadOptions{PromptRoot: cfg.Resolve(cfg.Prompts)}}
	rc := routing.Config{Policy: routing.TierPolicy(cfg.ACD.Policy), Window: cfg.ACD.Window.D(), ShortAbandon: cfg.ACD.ShortAbandon.D()}
	for _, t := range cfg.Tiers {
		rc.Tiers = append(rc.Tiers, routing.Tier{Name: t.Name, Target: t.Target / 100, Threshold: t.Within.D(), PreferredGroups: t.PreferredGroups, WidenAfter: t.WidenAfter.D()})
		p.targets[t.Name] = cdr.Target{Target: t.Target / 100, Within: t.Within.D()}
		p.names.Tiers = append(p.names.Tiers, t.Name)
	}
	qs := map[string]acd.QueueSettings{}
	policy := map[string]recording.Policy{}
	p.desk.QueueCodes = map[string][]string{}
	for _, q := range cfg.Queues {
		rc.Queues = append(rc.Queues, routing.Queue{Name: q.Name, Strategy: routing.Strategy(q.Strategy), RegionWiden: q.RegionWiden.D()})
		qs[q.Name] = acd.QueueSettings{WrapUp: q.WrapUp.D(), MaxWait: q.MaxWait.D(), MaxSize: q.MaxSize,
			CallbackAttempts: q.Callback.Attempts, CallbackRetry: q.Callback.Retry.D(), CallbackRing: q.Callback.Ring.D()}
		pol, err := recording.ParsePolicy(orDefault(q.Record, "always"))
		if err != nil {
			return nil, fmt.Errorf("engine: queues %s record: %w", q.Name, err)
		}
		policy[q.Name] = pol
		p.queues = append(p.queues, q.Name)
		if len(q.WrapUpCodes) > 0 {
			p.desk.QueueCodes[q.Name] = q.WrapUpCodes
		}
	}
	p.names.Queues = p.queues
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("engine: %s: routing: %w", cfg.File, err)
	}
	breaks := map[string]time.Duration{}
	for k, v := range cfg.ACD.BreakReasons {
		breaks[k] = v.D()
		p.breaks = append(p.breaks, k)
	}
	sort.Strings(p.breaks)
	p.desk.BreakLimits = breaks
	p.desk.CustomerAttributes = cfg.Desktop.CustomerAttributes
	p.desk.Languages = cfg.Desktop.Languages

	def, err := sdp.ParseSRTPPolicy(cfg.Media.SRTP)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: media.srtp: %w", cfg.File, err)
	}
	profiles := map[string]acd.AgentProfile{}
	for i, a := range cfg.Agents {
		key := fmt.Sprintf("agents[%d]", i)
		p.agents[a.ID] = a
		p.names.Agents = append(p.names.Agents, a.ID)
		prof := acd.AgentProfile{ID: a.ID, Skills: a.Skills, Groups: a.Groups, Region: a.Region, Mode: acd.AnswerMode(a.Mode)}
		// The credential without its hash (hashPasswords): what the
		// configuration gives, checked as start-up would check it.
		c := credential{ha1: a.SIPHA1, srtp: def}
		switch {
		case a.PasswordHash != "":
			if !agentapi.ValidHash(a.PasswordHash) {
				return nil, fmt.Errorf("engine: %s: %s.password_hash: neither a bcrypt nor an argon2id (v=19, sane parameters) hash", cfg.File, key)
			}
			c.hash = a.PasswordHash
		case len(a.Password) > 72:
			return nil, fmt.Errorf("engine: %s: %s.password: longer than bcrypt's 72 bytes", cfg.File, key)
		case a.Password != "":
			c.clear = fingerprint(a.ID, a.Password)
		}
		if c.ha1 == "" {
			if a.Password == "" {
				return nil, fmt.Errorf("engine: %s: %s.sip_ha1: with password_hash and no password the phone needs sip_ha1", cfg.File, key)
			}
			c.ha1 = sip.HA1(a.ID, cfg.SIP.Realm, a.Password)
		}
		if a.SRTP != "" {
			if c.srtp, err = sdp.ParseSRTPPolicy(a.SRTP); err != nil {
				return nil, fmt.Errorf("engine: %s: %s.srtp: %w", cfg.File, key, err)
			}
		}
		p.creds[a.ID] = c
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
	for i, t := range cfg.Trunks {
		st := sip.Trunk{Name: t.Name, Sources: t.TrunkPrefixes(), Outbound: t.Outbound, TLSName: t.TLSName, SRTP: def}
		if t.SRTP != "" {
			if st.SRTP, err = sdp.ParseSRTPPolicy(t.SRTP); err != nil {
				return nil, fmt.Errorf("engine: %s: trunks[%d].srtp: %w", cfg.File, i, err)
			}
		}
		p.trunks = append(p.trunks, st)
		p.exempt = append(p.exempt, st.Sources...)
	}
	p.live = callctl.Live{Queues: p.queues, RecordPolicy: policy, CustomerRing: customerRing(cfg.Queues)}
	for _, t := range cfg.Trunks {
		if t.Outbound != "" {
			p.live.Outbound = t.Outbound
			break
		}
	}
	return p, nil
}

// accounts are the desktop's accounts, with the hashes (never a clear
// password): after hashPasswords.
func (p *plan) accounts() []agentapi.Account {
	out := make([]agentapi.Account, 0, len(p.cfg.Agents))
	for _, a := range p.cfg.Agents {
		out = append(out, agentapi.Account{
			ID: a.ID, Name: a.Name, Role: agentapi.Role(a.Role), PasswordHash: p.creds[a.ID].hash,
			Profile:    acd.AgentProfile{ID: a.ID, Skills: a.Skills, Groups: a.Groups, Region: a.Region, Mode: acd.AnswerMode(a.Mode)},
			Supervises: nil, // supervisors watch every agent until groups are configured
		})
	}
	return out
}

// Check validates a configuration and its flows the way start-up and a
// reload do, with no side effect at all: no port bound, no directory
// created or repaired, no Redis contacted, no customer or contact list
// imported, no password hashed. It is `hotline -check`, safe on a host
// where the engine is running.
func Check(cfg *config.Config) error { return CheckFS(cfg, nil) }

// CheckFS is Check for a configuration inside a file system (fsys nil: the
// operating system's files), e.g. the embedded demo read in place.
func CheckFS(cfg *config.Config, fsys fs.FS) error {
	p, err := newPlan(cfg)
	if err != nil {
		return err
	}
	p.flowOpts.FS = fsys
	if _, err := ivr.NewRegistry(p.flowOpts).Prepare(cfg.Resolve(cfg.Flows), cfg.AccessNumbers, cfg.AccessLanguages); err != nil {
		return fmt.Errorf("engine: flows: %w", err)
	}
	if err := checkCampaigns(cfg, fsys, p.names); err != nil {
		return err
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
	// Certificates and CAs are read at start-up too.
	if cfg.SIP.TLS != "" {
		files["sip.tls_cert"], files["sip.tls_key"], files["sip.tls_client_ca"] = cfg.SIP.TLSCert, cfg.SIP.TLSKey, cfg.SIP.TLSClientCA
	}
	files["sip.tls_ca"] = cfg.SIP.TLSCA
	files["http.tls_cert"], files["http.tls_key"] = cfg.HTTP.TLSCert, cfg.HTTP.TLSKey
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

// checkCampaigns reads the campaign files (not their contact lists) and
// checks the queues, tiers and agents they name.
func checkCampaigns(cfg *config.Config, fsys fs.FS, names campaign.Names) error {
	if cfg.Campaigns == "" {
		return nil
	}
	dir := cfg.Resolve(cfg.Campaigns)
	var specs []*campaign.Spec
	if fsys == nil {
		var err error
		if specs, err = campaign.LoadDir(dir); err != nil {
			return fmt.Errorf("engine: campaigns: %w", err)
		}
	} else {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return fmt.Errorf("engine: campaigns: %w", err)
		}
		for _, en := range entries {
			ext := path.Ext(en.Name())
			if en.IsDir() || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			file := path.Join(dir, en.Name())
			data, err := fs.ReadFile(fsys, file)
			if err != nil {
				return fmt.Errorf("engine: campaigns: %w", err)
			}
			// No base directory: the lists inside the embedded tree are not
			// looked up on the host's disk.
			s, err := campaign.ParseSpec(file, data, "")
			if err != nil {
				return fmt.Errorf("engine: campaigns: %w", err)
			}
			specs = append(specs, s)
		}
	}
	var errs []error
	for _, s := range specs {
		if err := s.CheckNames(names); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: campaigns: %w", err)
	}
	return nil
}

// campaignNamesOK refuses a reload that would take a queue, tier or agent
// from a loaded campaign (campaigns themselves change at a restart).
func (e *Engine) campaignNamesOK(names campaign.Names) error {
	if e.campaigns == nil {
		return nil
	}
	var errs []error
	for _, s := range e.campaigns.specs {
		if err := s.CheckNames(names); err != nil {
			errs = append(errs, fmt.Errorf("campaign %s (%s): %w", s.Name, filepath.Base(s.File), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: the campaigns in service need what the new configuration removes: %w", err)
	}
	return nil
}
