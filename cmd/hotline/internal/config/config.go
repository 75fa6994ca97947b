// Package config loads Hotline's one YAML configuration file, applies
// environment overrides for secrets and addresses, and validates it with
// errors that name the file and the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "15s", "2m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 15s, 2m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the whole engine configuration.
type Config struct {
	SIP struct {
		UDP      string   `yaml:"udp"`
		TCP      string   `yaml:"tcp"`
		Realm    string   `yaml:"realm"`
		MediaIP  string   `yaml:"media_ip"`
		RTPPorts string   `yaml:"rtp_ports"`
		Codecs   []string `yaml:"codecs"`
		// RTPTimeout ends a leg whose phone sent RTP and then stopped
		// (vanished without a BYE), hold excepted; "0s" uses the default,
		// a negative value turns it off.
		RTPTimeout Duration `yaml:"rtp_timeout"`
		// MinSessionExpires is the shortest RFC 4028 session interval a
		// caller may ask for (422 below it).
		MinSessionExpires Duration `yaml:"min_session_expires"`
		// TLS is the SIP-over-TLS listen address (needs tls_cert and
		// tls_key, PEM files re-read on SIGHUP); tls_client_ca verifies
		// trunks' client certificates (trunks[].tls_name); tls_ca is
		// trusted when dialling TLS (default: the system roots).
		TLS         string `yaml:"tls"`
		TLSCert     string `yaml:"tls_cert"`
		TLSKey      string `yaml:"tls_key"`
		TLSClientCA string `yaml:"tls_client_ca"`
		TLSCA       string `yaml:"tls_ca"`
		// NonceSecret, shared by the nodes of a centre, lets a phone answer
		// one node's digest challenge on another (HOTLINE_SIP_NONCE_SECRET).
		NonceSecret string `yaml:"nonce_secret"`
		// RTPLatch: strict (default: media only from the SDP address or the
		// signalling source) or loose (any source; a silent peer replaced).
		RTPLatch string `yaml:"rtp_latch"`
		// Stream (TCP/TLS) connection limits.
		FirstMessageTimeout     Duration `yaml:"first_message_timeout"`
		IdleTimeout             Duration `yaml:"idle_timeout"`
		MaxConnectionsPerSource int      `yaml:"max_connections_per_source"`
	} `yaml:"sip"`
	HTTP struct {
		Listen string `yaml:"listen"`
		// SessionKey signs desktop session tokens (they survive restarts);
		// empty: a key kept in the state directory.
		SessionKey string `yaml:"session_key"`
		// TLSCert and TLSKey serve HTTPS (and WSS) instead of HTTP; re-read
		// on SIGHUP.
		TLSCert string `yaml:"tls_cert"`
		TLSKey  string `yaml:"tls_key"`
		// ReadHeaderTimeout bounds a request's headers (and a WebSocket
		// handshake); IdleTimeout a kept-alive connection between requests.
		ReadHeaderTimeout       Duration `yaml:"read_header_timeout"`
		IdleTimeout             Duration `yaml:"idle_timeout"`
		MaxConnectionsPerSource int      `yaml:"max_connections_per_source"`
	} `yaml:"http"`
	// Media holds defaults for every leg; trunks and agents may override.
	Media struct {
		// SRTP: off, optional (default) or required.
		SRTP string `yaml:"srtp"`
		// WebRTCPort is the UDP port every browser phone's media shares
		// (ICE-lite on sip.media_ip); 0 picks a free one at start (logged).
		WebRTCPort int `yaml:"webrtc_port"`
		// WebRTCGrace is how long a browser call whose page went (reload,
		// lost connection) waits for the agent's page to re-attach
		// (default 10s).
		WebRTCGrace Duration `yaml:"webrtc_grace"`
		// RTPSockets: shared (default: legs share a few ports of
		// sip.rtp_ports, told apart by address and SSRC) or per_leg (a
		// port per leg). NATed phones and trunks with rtp_port_per_leg get
		// a port of their own either way.
		RTPSockets string `yaml:"rtp_sockets"`
		// SharedPorts is how many ports the legs share (0: 4 per CPU).
		SharedPorts int `yaml:"shared_ports"`
	} `yaml:"media"`
	// Security tunes the brute-force and flood guard shared by SIP digest,
	// HTTP basic auth and the desktop login.
	Security struct {
		MaxFailures     int      `yaml:"max_failures"`      // per source within window (10)
		UserMaxFailures int      `yaml:"user_max_failures"` // per user within window (30)
		Window          Duration `yaml:"window"`            // 5m
		Ban             Duration `yaml:"ban"`               // first ban (5m), doubling per repeat
		MaxBan          Duration `yaml:"max_ban"`           // 24h
		RequestRate     float64  `yaml:"request_rate"`      // INVITE+REGISTER per second per source (20; trunks exempt)
		RequestBurst    int      `yaml:"request_burst"`     // 40
	} `yaml:"security"`
	Trunks        []Trunk           `yaml:"trunks"`
	AccessNumbers map[string]string `yaml:"access_numbers"`
	Flows         string            `yaml:"flows"`
	Prompts       string            `yaml:"prompts"`
	// Campaigns is the directory of outbound campaign files ("" = none).
	Campaigns string `yaml:"campaigns"`
	Language  string `yaml:"language"`
	CRM       struct {
		File          string            `yaml:"file"`
		LookupTimeout Duration          `yaml:"lookup_timeout"`
		CountryCode   string            `yaml:"country_code"`
		Regions       map[string]string `yaml:"regions"`
		// Watch re-imports the file when it changes (incremental files use an op column).
		Watch Duration `yaml:"watch"`
		Pull  struct {
			URL        string   `yaml:"url"` // with {page}
			AuthHeader string   `yaml:"auth_header"`
			AuthValue  string   `yaml:"auth_value"`
			Interval   Duration `yaml:"interval"`
			Timeout    Duration `yaml:"timeout"`
		} `yaml:"pull"`
		Live struct {
			URL              string   `yaml:"url"` // with {number}
			AuthHeader       string   `yaml:"auth_header"`
			AuthValue        string   `yaml:"auth_value"`
			Timeout          Duration `yaml:"timeout"`
			FailureThreshold int      `yaml:"failure_threshold"`
			CoolDown         Duration `yaml:"cool_down"`
		} `yaml:"live"`
	} `yaml:"crm"`
	Recording struct {
		Dir       string   `yaml:"dir"`
		Retention Duration `yaml:"retention"`
		Mono      bool     `yaml:"mono"`
	} `yaml:"recording"`
	Records string `yaml:"records"`
	// StateDir keeps what outlives a restart (default <records>/state):
	// phone registrations, agent states, the desktop session key and its
	// revocations, and on a single node the pending callbacks.
	StateDir string `yaml:"state_dir"`
	// Store is where the ACD's shared state lives: "memory" (default, one
	// node) or "redis" (several nodes sharing agents, queues,
	// registrations and service-level counters).
	Store string `yaml:"store"`
	Redis Redis  `yaml:"redis"`
	ACD   struct {
		RingTimeout  Duration            `yaml:"ring_timeout"`
		WrapUp       Duration            `yaml:"wrap_up"`
		Policy       string              `yaml:"policy"`
		Window       Duration            `yaml:"window"`
		ShortAbandon Duration            `yaml:"short_abandon"`
		BreakReasons map[string]Duration `yaml:"break_reasons"`
		AdjustWarn   Duration            `yaml:"adjust_warn"`
	} `yaml:"acd"`
	Tiers  []Tier  `yaml:"tiers"`
	Queues []Queue `yaml:"queues"`
	Agents []Agent `yaml:"agents"`

	// Shutdown is the graceful stop (SIGTERM, POST /admin/drain): new
	// calls are refused, calls in progress get Grace to finish.
	Shutdown struct {
		Grace Duration `yaml:"grace"`
	} `yaml:"shutdown"`

	// AccessLanguages runs an access number's flow with another prompt
	// language (number → language, e.g. "10011": zh).
	AccessLanguages map[string]string `yaml:"access_languages"`
	// Desktop shapes the agent desktop's customer card.
	Desktop Desktop `yaml:"desktop"`

	// File is where the configuration came from ("embedded demo" for the default).
	File string `yaml:"-"`
	// Dir is the directory relative paths in the file are resolved against.
	Dir string `yaml:"-"`
}

// Redis is the shared state of a cluster (store: redis).
type Redis struct {
	// Addr is host:port, or a unix socket path; with Sentinel, the
	// sentinels' host:port list, comma-separated.
	Addr string `yaml:"addr"`
	// Sentinel is the primary's name in Redis Sentinel (production: a
	// primary, a replica and three sentinels); empty = Addr is Redis.
	Sentinel         string `yaml:"sentinel"`
	SentinelPassword string `yaml:"sentinel_password"`
	Password         string `yaml:"password"`
	DB               int    `yaml:"db"`
	// TLS connects with TLS; CA is a PEM file of the CA to trust instead
	// of the system roots.
	TLS bool   `yaml:"tls"`
	CA  string `yaml:"ca"`
	// Prefix starts every key; nodes of one centre share it. Use a hash
	// tag ("{hotline}:") on Redis Cluster.
	Prefix string `yaml:"prefix"`
	// Node names this process among the nodes (default hostname-pid).
	Node string `yaml:"node"`
	// LeaseTTL is how long a silent node counts as alive (default 5s);
	// its agents and callers are released after that.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// Timeout bounds one Redis command (default 1s).
	Timeout Duration `yaml:"timeout"`
	// Advertise is host:port where the other nodes reach this node's HTTP
	// server directly while Redis is down (default: http.listen, with
	// sip.media_ip for an unspecified address).
	Advertise string `yaml:"advertise"`
}

// Trunk is a carrier or PBX trusted by source address.
type Trunk struct {
	Name     string   `yaml:"name"`
	Sources  []string `yaml:"sources"`
	Outbound string   `yaml:"outbound"`
	// SRTP overrides media.srtp for this trunk.
	SRTP string `yaml:"srtp"`
	// TLSName admits the trunk only over TLS with a client certificate
	// naming it (verified against sip.tls_client_ca).
	TLSName string `yaml:"tls_name"`
	// RTPPortPerLeg gives the trunk's calls a port per leg even when legs
	// share ports (a peer sending several calls from one address and port
	// without a=ssrc).
	RTPPortPerLeg bool `yaml:"rtp_port_per_leg"`
}

// Tier is a customer class and its service-level target.
type Tier struct {
	Name            string   `yaml:"name"`
	Target          float64  `yaml:"target"` // percent, e.g. 80
	Within          Duration `yaml:"within"`
	PreferredGroups []string `yaml:"preferred_groups"`
	WidenAfter      Duration `yaml:"widen_after"`
}

// Queue is a skill group.
type Queue struct {
	Name        string   `yaml:"name"`
	Strategy    string   `yaml:"strategy"`
	WrapUp      Duration `yaml:"wrap_up"`
	MaxWait     Duration `yaml:"max_wait"`
	MaxSize     int      `yaml:"max_size"`
	RegionWiden Duration `yaml:"region_widen"`
	// Record is the recording policy: always (default), never, or "N%".
	Record string `yaml:"record"`
	// Callback is the queued-callback policy of the queue.
	Callback QueueCallback `yaml:"callback"`
	// WrapUpCodes are the disposition codes agents pick from after this
	// queue's calls (none: any code).
	WrapUpCodes []string `yaml:"wrap_up_codes"`
}

// QueueCallback says how a queue's callbacks are tried: Attempts tries
// (default 3) spaced by Retry (default 2m), ringing the customer for Ring
// (default 30s).
type QueueCallback struct {
	Attempts int      `yaml:"attempts"`
	Retry    Duration `yaml:"retry"`
	Ring     Duration `yaml:"ring"`
}

// Desktop configures what the agent desktop shows.
type Desktop struct {
	// CustomerAttributes are the CRM attributes (attr:<name> columns)
	// shown on the customer card, in this order.
	CustomerAttributes []string `yaml:"customer_attributes"`
	// History is how many of the customer's last calls the card lists
	// (default 5).
	History int `yaml:"history"`
	// Languages sets agents' desktop languages (agent id → en or zh-CN);
	// others use their own choice or their browser's.
	Languages map[string]string `yaml:"languages"`
}

// Agent is an agent or supervisor seat.
type Agent struct {
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Password string `yaml:"password"`
	// PasswordHash (bcrypt or argon2id) replaces password for the desktop
	// and HTTP basic auth; SIPHA1 (MD5 of id:realm:password) then gives the
	// phone its digest secret. Neither needs the password in the file.
	PasswordHash string `yaml:"password_hash"`
	SIPHA1       string `yaml:"sip_ha1"`
	// SRTP overrides media.srtp for this agent's phone.
	SRTP   string         `yaml:"srtp"`
	Role   string         `yaml:"role"`
	Skills map[string]int `yaml:"skills"`
	Region string         `yaml:"region"`
	Groups []string       `yaml:"groups"`
	Mode   string         `yaml:"answer_mode"`
	// Phone is where calls ring: sip (the registered phone), browser (the
	// desktop page) or auto (default: the page when it has registered as
	// the phone, else the SIP phone).
	Phone string `yaml:"phone"`
}

// Error is one configuration problem.
type Error struct {
	File string
	Key  string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Parse reads a configuration from data; file names it in errors.
func Parse(file string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, typeErrors(file, te.Errors)
		}
		return nil, typeErrors(file, []string{strings.TrimPrefix(err.Error(), "yaml: ")})
	}
	c.File = file
	c.setDefaults()
	return &c, nil
}

// Load reads and validates a configuration file, with environment overrides.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.Dir = dirOf(path)
	c.ApplyEnv(os.Getenv)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return "."
}

func (c *Config) setDefaults() {
	if c.SIP.Realm == "" {
		c.SIP.Realm = "hotline"
	}
	if c.SIP.MediaIP == "" {
		c.SIP.MediaIP = "127.0.0.1"
	}
	if c.SIP.RTPPorts == "" {
		c.SIP.RTPPorts = "20000-29999"
	}
	if len(c.SIP.Codecs) == 0 {
		c.SIP.Codecs = []string{"PCMU", "PCMA"}
	}
	if c.Language == "" {
		c.Language = "en"
	}
	if c.CRM.LookupTimeout == 0 {
		c.CRM.LookupTimeout = Duration(300 * time.Millisecond)
	}
	if c.CRM.CountryCode == "" {
		c.CRM.CountryCode = "86"
	}
	if c.ACD.RingTimeout == 0 {
		c.ACD.RingTimeout = Duration(15 * time.Second)
	}
	if c.SIP.RTPTimeout == 0 {
		c.SIP.RTPTimeout = Duration(30 * time.Second)
	}
	if c.SIP.MinSessionExpires == 0 {
		c.SIP.MinSessionExpires = Duration(90 * time.Second)
	}
	if c.ACD.WrapUp == 0 {
		c.ACD.WrapUp = Duration(5 * time.Second)
	}
	if c.ACD.Policy == "" {
		c.ACD.Policy = "gap-saveable"
	}
	if c.Shutdown.Grace == 0 {
		c.Shutdown.Grace = Duration(10 * time.Minute)
	}
	if c.Desktop.History == 0 {
		c.Desktop.History = 5
	}
}

// ApplyEnv overrides addresses and secrets from the environment:
// HOTLINE_SIP_UDP, HOTLINE_SIP_TCP, HOTLINE_HTTP_LISTEN, HOTLINE_RTP_PORTS,
// HOTLINE_MEDIA_IP, HOTLINE_STORE, HOTLINE_REDIS_ADDR, HOTLINE_REDIS_PASSWORD,
// HOTLINE_REDIS_PREFIX, HOTLINE_NODE, HOTLINE_SIP_TLS,
// HOTLINE_SIP_NONCE_SECRET, and HOTLINE_AGENT_<ID>_PASSWORD per agent.
func (c *Config) ApplyEnv(getenv func(string) string) {
	set := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	set(&c.SIP.UDP, "HOTLINE_SIP_UDP")
	set(&c.SIP.TCP, "HOTLINE_SIP_TCP")
	set(&c.HTTP.Listen, "HOTLINE_HTTP_LISTEN")
	set(&c.SIP.RTPPorts, "HOTLINE_RTP_PORTS")
	set(&c.SIP.MediaIP, "HOTLINE_MEDIA_IP")
	set(&c.Recording.Dir, "HOTLINE_RECORDINGS")
	set(&c.Records, "HOTLINE_RECORDS")
	set(&c.CRM.Pull.AuthValue, "HOTLINE_CRM_PULL_AUTH")
	set(&c.CRM.Live.AuthValue, "HOTLINE_CRM_LIVE_AUTH")
	set(&c.Store, "HOTLINE_STORE")
	set(&c.Redis.Addr, "HOTLINE_REDIS_ADDR")
	set(&c.Redis.Password, "HOTLINE_REDIS_PASSWORD")
	set(&c.Redis.Prefix, "HOTLINE_REDIS_PREFIX")
	set(&c.Redis.Node, "HOTLINE_NODE")
	set(&c.HTTP.SessionKey, "HOTLINE_SESSION_KEY")
	set(&c.Redis.Advertise, "HOTLINE_ADVERTISE")
	set(&c.SIP.TLS, "HOTLINE_SIP_TLS")
	set(&c.SIP.NonceSecret, "HOTLINE_SIP_NONCE_SECRET")
	for i := range c.Agents {
		set(&c.Agents[i].Password, "HOTLINE_AGENT_"+strings.ToUpper(c.Agents[i].ID)+"_PASSWORD")
	}
}

// RTPRange parses sip.rtp_ports.
func (c *Config) RTPRange() (int, int, error) {
	lo, hi, ok := strings.Cut(c.SIP.RTPPorts, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || a < 1024 || b > 65535 || a >= b {
		return 0, 0, fmt.Errorf("%q must be LOW-HIGH within 1024-65535", c.SIP.RTPPorts)
	}
	return a, b, nil
}

// Validate checks the whole configuration and reports every problem.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{File: c.File, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.SIP.UDP == "" && c.SIP.TCP == "" {
		bad("sip", "set udp or tcp (e.g. 127.0.0.1:5060)")
	}
	for k, v := range map[string]string{"sip.udp": c.SIP.UDP, "sip.tcp": c.SIP.TCP, "sip.tls": c.SIP.TLS, "http.listen": c.HTTP.Listen} {
		if v == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(v); err != nil {
			bad(k, "%q is not host:port with an IP address", v)
		}
	}
	if _, err := netip.ParseAddr(c.SIP.MediaIP); err != nil {
		bad("sip.media_ip", "%q is not an IP address", c.SIP.MediaIP)
	}
	if _, _, err := c.RTPRange(); err != nil {
		bad("sip.rtp_ports", "%v", err)
	}
	for i, name := range c.SIP.Codecs {
		if n := strings.ToUpper(name); n != "PCMU" && n != "PCMA" {
			bad(fmt.Sprintf("sip.codecs[%d]", i), "unsupported codec %q (PCMU, PCMA)", name)
		}
	}
	if c.SIP.TLS != "" && (c.SIP.TLSCert == "" || c.SIP.TLSKey == "") {
		bad("sip.tls", "needs sip.tls_cert and sip.tls_key (PEM files)")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		bad("http.tls_cert", "set both http.tls_cert and http.tls_key, or neither")
	}
	switch c.SIP.RTPLatch {
	case "", "strict", "loose":
	default:
		bad("sip.rtp_latch", "unknown mode %q (strict, loose)", c.SIP.RTPLatch)
	}
	if !validSRTP(c.Media.SRTP) {
		bad("media.srtp", "unknown value %q (off, optional, required)", c.Media.SRTP)
	}
	switch c.Media.RTPSockets {
	case "", "shared", "per_leg":
	default:
		bad("media.rtp_sockets", "unknown mode %q (shared, per_leg)", c.Media.RTPSockets)
	}
	if c.Media.SharedPorts < 0 || c.Media.SharedPorts > 1024 {
		bad("media.shared_ports", "%d: want 0 (4 per CPU) to 1024", c.Media.SharedPorts)
	}
	if c.Security.MaxFailures < 0 || c.Security.UserMaxFailures < 0 || c.Security.Window < 0 || c.Security.Ban < 0 || c.Security.MaxBan < 0 || c.Security.RequestBurst < 0 {
		bad("security", "values must not be negative")
	}
	for i, t := range c.Trunks {
		if t.Name == "" {
			bad(fmt.Sprintf("trunks[%d].name", i), "missing")
		}
		if !validSRTP(t.SRTP) {
			bad(fmt.Sprintf("trunks[%d].srtp", i), "unknown value %q (off, optional, required)", t.SRTP)
		}
		if t.TLSName != "" && (c.SIP.TLS == "" || c.SIP.TLSClientCA == "") {
			bad(fmt.Sprintf("trunks[%d].tls_name", i), "needs sip.tls and sip.tls_client_ca")
		}
		for j, s := range t.Sources {
			if _, err := parsePrefix(s); err != nil {
				bad(fmt.Sprintf("trunks[%d].sources[%d]", i, j), "%q is not an address or CIDR", s)
			}
		}
	}
	if u := c.CRM.Pull.URL; u != "" && !strings.Contains(u, "{page}") {
		bad("crm.pull.url", "%q must contain {page}", u)
	}
	if u := c.CRM.Live.URL; u != "" && !strings.Contains(u, "{number}") {
		bad("crm.live.url", "%q must contain {number}", u)
	}
	if len(c.AccessNumbers) == 0 {
		bad("access_numbers", "no access number: nothing could be called")
	}
	for _, num := range sortedKeys(c.AccessLanguages) {
		if _, ok := c.AccessNumbers[num]; !ok {
			bad("access_languages."+num, "no access number %s in access_numbers", num)
		}
	}
	tiers := map[string]bool{}
	for i, t := range c.Tiers {
		key := fmt.Sprintf("tiers[%d]", i)
		switch {
		case t.Name == "":
			bad(key+".name", "missing")
		case tiers[t.Name]:
			bad(key+".name", "duplicate tier %q", t.Name)
		}
		tiers[t.Name] = true
		if t.Target <= 0 || t.Target >= 100 {
			bad(key+".target", "%v must be a percentage between 0 and 100 (exclusive)", t.Target)
		}
		if t.Within <= 0 {
			bad(key+".within", "must be a positive duration")
		}
	}
	if len(c.Tiers) > 0 && !tiers["normal"] {
		bad("tiers", "a tier named \"normal\" is required: unknown callers get it")
	}
	queues := map[string]bool{}
	for i, q := range c.Queues {
		key := fmt.Sprintf("queues[%d]", i)
		if q.Name == "" {
			bad(key+".name", "missing")
		} else if queues[q.Name] {
			bad(key+".name", "duplicate queue %q", q.Name)
		}
		queues[q.Name] = true
		seenCodes := map[string]bool{}
		for j, code := range q.WrapUpCodes {
			switch {
			case strings.TrimSpace(code) == "" || len(code) > 64:
				bad(fmt.Sprintf("%s.wrap_up_codes[%d]", key, j), "%q must be 1-64 characters", code)
			case seenCodes[code]:
				bad(fmt.Sprintf("%s.wrap_up_codes[%d]", key, j), "duplicate code %q", code)
			}
			seenCodes[code] = true
		}
		if _, err := recordPolicy(q.Record); err != nil {
			bad(key+".record", "%v", err)
		}
		switch q.Strategy {
		case "", "longest-idle", "fewest-calls", "round-robin", "random":
		default:
			bad(key+".strategy", "unknown strategy %q (longest-idle, fewest-calls, round-robin, random)", q.Strategy)
		}
		if cb := q.Callback; cb.Attempts < 0 || cb.Attempts > 20 || cb.Retry < 0 || cb.Ring < 0 {
			bad(key+".callback", "attempts must be 0..20 (0: the default, 3), retry and ring not negative")
		}
	}
	if c.Desktop.History < 0 || c.Desktop.History > 50 {
		bad("desktop.history", "%d must be between 0 and 50", c.Desktop.History)
	}
	for _, id := range sortedKeys(c.Desktop.Languages) {
		switch c.Desktop.Languages[id] {
		case "en", "zh-CN":
		default:
			bad("desktop.languages."+id, "%q: en or zh-CN", c.Desktop.Languages[id])
		}
	}
	switch c.Store {
	case "", "memory":
	case "redis":
		if c.Redis.Addr == "" {
			bad("redis.addr", "missing: store redis needs the Redis address (or set HOTLINE_REDIS_ADDR)")
		}
		if c.Redis.LeaseTTL < 0 || c.Redis.Timeout < 0 {
			bad("redis", "lease_ttl and timeout must not be negative")
		}
	default:
		bad("store", "unknown store %q (memory, redis)", c.Store)
	}
	if c.Shutdown.Grace < 0 {
		bad("shutdown.grace", "must not be negative (0s: the default, 10m)")
	}
	switch c.ACD.Policy {
	case "gap-saveable", "gap-relative", "gap-absolute", "fifo", "strict":
	default:
		bad("acd.policy", "unknown policy %q (gap-saveable, gap-relative, gap-absolute, fifo, strict)", c.ACD.Policy)
	}
	ids := map[string]bool{}
	for i, a := range c.Agents {
		key := fmt.Sprintf("agents[%d]", i)
		switch {
		case a.ID == "":
			bad(key+".id", "missing")
		case ids[a.ID]:
			bad(key+".id", "duplicate agent %q", a.ID)
		}
		ids[a.ID] = true
		switch {
		case a.Password == "" && a.PasswordHash == "":
			bad(key+".password", "missing (or set HOTLINE_AGENT_%s_PASSWORD, or password_hash and sip_ha1)", strings.ToUpper(a.ID))
		case a.Password == "" && !validHA1(a.SIPHA1):
			bad(key+".sip_ha1", "with password_hash and no password the phone needs sip_ha1 (32 hex digits: MD5 of id:realm:password)")
		case a.PasswordHash != "" && !strings.HasPrefix(a.PasswordHash, "$2") && !strings.HasPrefix(a.PasswordHash, "$argon2id$"):
			bad(key+".password_hash", "neither bcrypt ($2b$...) nor argon2id ($argon2id$v=19$...)")
		}
		if !validSRTP(a.SRTP) {
			bad(key+".srtp", "unknown value %q (off, optional, required)", a.SRTP)
		}
		switch a.Role {
		case "agent", "supervisor", "admin":
		default:
			bad(key+".role", "unknown role %q (agent, supervisor, admin)", a.Role)
		}
		skills := make([]string, 0, len(a.Skills))
		for q := range a.Skills {
			skills = append(skills, q)
		}
		sort.Strings(skills)
		for _, q := range skills {
			if !queues[q] {
				bad(key+".skills."+q, "no queue named %q", q)
			}
			if a.Skills[q] < 1 {
				bad(key+".skills."+q, "level %d must be 1 (first skill) or more", a.Skills[q])
			}
		}
		switch a.Mode {
		case "", "auto", "manual":
		default:
			bad(key+".answer_mode", "unknown mode %q (auto, manual)", a.Mode)
		}
		switch a.Phone {
		case "", "auto", "sip", "browser":
		default:
			bad(key+".phone", "unknown phone %q (sip, browser, auto)", a.Phone)
		}
	}
	if p := c.Media.WebRTCPort; p < 0 || p > 65535 {
		bad("media.webrtc_port", "port %d out of range", p)
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// TrunkPrefixes returns a trunk's sources as prefixes (validated already).
func (t Trunk) TrunkPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range t.Sources {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Resolve makes a path from the file relative to the config's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return c.Dir + "/" + p
}

// recordPolicy checks a queue's recording policy.
func recordPolicy(p string) (string, error) {
	switch {
	case p == "", p == "always", p == "never":
		return p, nil
	case strings.HasSuffix(p, "%"):
		n, err := strconv.Atoi(strings.TrimSuffix(p, "%"))
		if err != nil || n < 0 || n > 100 {
			return "", fmt.Errorf("%q must be always, never or a percentage 0%%-100%%", p)
		}
		return p, nil
	}
	return "", fmt.Errorf("%q must be always, never or a percentage like 20%%", p)
}

func validSRTP(s string) bool { return s == "" || s == "off" || s == "optional" || s == "required" }

func validHA1(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
