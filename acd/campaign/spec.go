package campaign

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/routing/hours"
)

// Spec is one campaign file, validated, with defaults filled in.
type Spec struct {
	File    string // the file it was read from, for errors
	Name    string // unique; also names the campaign's saved progress
	Enabled bool   // start on load (saved progress of a supervisor's start/pause/stop wins)
	Mode    Mode
	Queue   string   // whose agents work it; the record's queue
	Agents  []string // when set, only these agents of Queue
	Tier    string   // tier of contacts whose row names none
	List    string   // CSV path, resolved against the spec's directory
	Pull    *PullSpec
	// Ratio is the number of calls per free agent (progressive; 1..MaxRatio).
	Ratio float64
	// MaxAbandonRate caps abandoned / reached calls (a fraction).
	MaxAbandonRate float64
	AbandonAfter   time.Duration
	Apology        string // prompt played to an abandoned customer
	RingTimeout    time.Duration
	// PreviewTimeout takes an unanswered preview back (0: never).
	PreviewTimeout time.Duration
	CallerID       string
	Location       *time.Location // the campaign's time zone
	Windows        Windows
	DNC            string // do-not-call file path, resolved; "" = none
	Retry          map[Outcome]RetryRule
	MaxAttempts    int
	// OutboundShare is the fraction of the campaign's signed-in agents
	// that may be on its calls (previewing, dialling, talking) at once.
	OutboundShare float64
	Script        []Question

	lines map[string]int // field → line, for errors found after parsing
}

// PullSpec pulls contacts over HTTP: the CRM pull importer's paged JSON
// (routing/crm.PullConfig: "{page}" in the URL, an empty page ends it;
// objects {"number","id","name","tier","region","blacklisted","attributes"},
// blacklisted ones are marked do-not-call), or a JSON array or CSV file
// at a plain URL.
type PullSpec struct {
	URL        string
	AuthHeader string
	AuthValue  string
	Timeout    time.Duration // per request; default 10 s
	MaxPages   int           // default 1000
}

// Limits and defaults of a spec.
const (
	MaxRatio            = 3.0
	DefaultAbandonRate  = 0.03
	DefaultAbandonAfter = 2 * time.Second
	DefaultApology      = "sorry-abandon"
	DefaultRingTimeout  = 25 * time.Second
	DefaultMaxAttempts  = 5
	DefaultPullTimeout  = 10 * time.Second
	maxSpecBytes        = 1 << 20
)

// SpecError is one problem of a campaign file.
type SpecError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *SpecError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// SpecErrors is every problem found in one or more files.
type SpecErrors []*SpecError

func (l SpecErrors) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func (l SpecErrors) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	qidRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	promptRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)
	lineRe   = regexp.MustCompile(`line (\d+)`)
)

// LoadFile reads and validates one campaign file. Relative list, dnc
// paths are resolved against the file's directory and must exist.
func LoadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	return ParseSpec(path, data, filepath.Dir(path))
}

// LoadDir loads every *.yaml and *.yml file of dir (sorted by name); it
// reports the problems of all files at once and refuses two campaigns of
// one name.
func LoadDir(dir string) ([]*Spec, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	var (
		specs []*Spec
		errs  SpecErrors
		names = map[string]string{}
	)
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		s, err := LoadFile(path)
		var se SpecErrors
		switch {
		case errors.As(err, &se):
			errs = append(errs, se...)
			continue
		case err != nil:
			errs = append(errs, &SpecError{File: path, Msg: err.Error()})
			continue
		}
		if first, dup := names[s.Name]; dup {
			errs = append(errs, &SpecError{File: path, Line: s.lines["name"], Field: "name", Msg: fmt.Sprintf("campaign %q is also defined in %s", s.Name, first)})
			continue
		}
		names[s.Name] = path
		specs = append(specs, s)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return specs, nil
}

// ParseSpec parses and validates one campaign file; file names it in
// errors and baseDir resolves relative paths ("" leaves them as written
// and skips the existence check). The error is SpecErrors with every
// problem found.
func ParseSpec(file string, data []byte, baseDir string) (*Spec, error) {
	p := &specParser{file: file, base: baseDir}
	s := p.parse(data)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

type specParser struct {
	file string
	base string
	errs SpecErrors
}

func (p *specParser) errorf(line int, field, format string, args ...any) {
	p.errs = append(p.errs, &SpecError{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// decodeYAML turns a panic of the decoder into an error: a bad file must
// not take the engine down.
func decodeYAML(data []byte) (doc yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml decoder failed: %v", r)
		}
	}()
	err = yaml.Unmarshal(data, &doc)
	return doc, err
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns the key/value nodes of a mapping, reporting duplicates.
func (p *specParser) pairs(v *yaml.Node, field string) [][2]*yaml.Node {
	v = deref(v)
	if v == nil || v.Kind != yaml.MappingNode {
		line := 0
		if v != nil {
			line = v.Line
		}
		p.errorf(line, field, "want a mapping of key: value")
		return nil
	}
	seen := map[string]bool{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, field, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			p.errorf(k.Line, join(field, k.Value), "given twice")
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, val})
	}
	return out
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func (p *specParser) str(v *yaml.Node, field string) (string, bool) {
	if v == nil || v.Kind != yaml.ScalarNode {
		line := 0
		if v != nil {
			line = v.Line
		}
		p.errorf(line, field, "want a single value, not a list or mapping")
		return "", false
	}
	return strings.TrimSpace(v.Value), true
}

func (p *specParser) boolean(v *yaml.Node, field string) bool {
	s, ok := p.str(v, field)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	p.errorf(v.Line, field, "%q: want true or false", s)
	return false
}

func (p *specParser) duration(v *yaml.Node, field string, lo, hi time.Duration) (time.Duration, bool) {
	s, ok := p.str(v, field)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(v.Line, field, "%q: want a duration like 2s, 10m, 4h", s)
		return 0, false
	}
	if d < lo || d > hi {
		p.errorf(v.Line, field, "%s: want %s to %s", d, lo, hi)
		return 0, false
	}
	return d, true
}

func (p *specParser) integer(v *yaml.Node, field string, lo, hi int) (int, bool) {
	s, ok := p.str(v, field)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.errorf(v.Line, field, "%q: want a whole number from %d to %d", s, lo, hi)
		return 0, false
	}
	return n, true
}

// fraction reads "3%", "0.03" or "1"; lo and hi bound the fraction.
func (p *specParser) fraction(v *yaml.Node, field string, lo, hi float64, loOpen bool) (float64, bool) {
	s, ok := p.str(v, field)
	if !ok {
		return 0, false
	}
	num, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err == nil && pct {
		f /= 100
	}
	if err != nil || math.IsNaN(f) || f > hi || f < lo || (loOpen && f == lo) {
		bound := "from"
		if loOpen {
			bound = "above"
		}
		p.errorf(v.Line, field, "%q: want a fraction or percentage %s %g%% to %g%%", s, bound, lo*100, hi*100)
		return 0, false
	}
	return f, true
}

func (p *specParser) strs(v *yaml.Node, field string) []string {
	if v == nil {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v.Line, field, "want a list")
		return nil
	}
	var out []string
	for i, it := range v.Content {
		if s, ok := p.str(deref(it), fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// path resolves a file name against the spec's directory and checks that
// it exists.
func (p *specParser) path(v *yaml.Node, field string) string {
	s, ok := p.str(v, field)
	if !ok {
		return ""
	}
	if s == "" {
		p.errorf(v.Line, field, "empty path")
		return ""
	}
	if p.base == "" {
		return s
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(p.base, s)
	}
	fi, err := os.Stat(s)
	switch {
	case err != nil:
		p.errorf(v.Line, field, "%v", err)
	case fi.IsDir():
		p.errorf(v.Line, field, "%s is a directory, want a file", s)
	}
	return s
}

var specFields = []string{"name", "enabled", "mode", "queue", "agents", "tier", "list", "pull", "ratio",
	"max_abandon_rate", "abandon_after", "apology", "ring_timeout", "preview_timeout", "caller_id", "timezone",
	"windows", "holidays", "dnc", "retry", "max_attempts", "outbound_share", "script"}

func (p *specParser) parse(data []byte) *Spec {
	if len(data) > maxSpecBytes {
		p.errorf(0, "", "file is %d bytes, larger than the %d allowed", len(data), maxSpecBytes)
		return nil
	}
	doc, err := decodeYAML(data)
	if err != nil {
		line := 0
		if m := lineRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		p.errorf(line, "", "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.errorf(0, "", "file is empty")
		return nil
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "", "a campaign must be a mapping (name, mode, queue, list, ...)")
		return nil
	}
	s := &Spec{
		File: p.file, Ratio: 1, MaxAbandonRate: DefaultAbandonRate, AbandonAfter: DefaultAbandonAfter,
		Apology: DefaultApology, RingTimeout: DefaultRingTimeout, MaxAttempts: DefaultMaxAttempts,
		OutboundShare: 1, Tier: crm.DefaultTier, Retry: DefaultRetry(), Location: time.Local,
		lines: map[string]int{},
	}
	var (
		windowsNode *yaml.Node
		holidays    []string
		holidayLine int
		ratioLine   int
		ratioSet    bool
	)
	for _, kv := range p.pairs(root, "") {
		k, v := kv[0], kv[1]
		s.lines[k.Value] = k.Line
		switch k.Value {
		case "name":
			if n, ok := p.str(v, "name"); ok {
				if !nameRe.MatchString(n) {
					p.errorf(v.Line, "name", "%q: want 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit", n)
				}
				s.Name = n
			}
		case "enabled":
			s.Enabled = p.boolean(v, "enabled")
		case "mode":
			if m, ok := p.str(v, "mode"); ok {
				switch Mode(m) {
				case Preview, Progressive:
					s.Mode = Mode(m)
				default:
					p.errorf(v.Line, "mode", "%q: want preview or progressive", m)
				}
			}
		case "queue":
			s.Queue, _ = p.str(v, "queue")
		case "agents":
			seen := map[string]bool{}
			for i, a := range p.strs(v, "agents") {
				switch {
				case a == "":
					p.errorf(v.Line, fmt.Sprintf("agents[%d]", i), "empty agent id")
				case seen[a]:
					p.errorf(v.Line, fmt.Sprintf("agents[%d]", i), "agent %q listed twice", a)
				default:
					seen[a] = true
					s.Agents = append(s.Agents, a)
				}
			}
		case "tier":
			s.Tier, _ = p.str(v, "tier")
		case "list":
			s.List = p.path(v, "list")
		case "pull":
			s.Pull = p.pull(v)
		case "ratio":
			if r, ok := p.str(v, "ratio"); ok {
				f, err := strconv.ParseFloat(r, 64)
				if err != nil || math.IsNaN(f) || f < 1 || f > MaxRatio {
					p.errorf(v.Line, "ratio", "%q: want calls per free agent from 1 to %g", r, MaxRatio)
				} else {
					s.Ratio, ratioLine, ratioSet = f, v.Line, true
				}
			}
		case "max_abandon_rate":
			if f, ok := p.fraction(v, "max_abandon_rate", 0, 1, true); ok {
				s.MaxAbandonRate = f
			}
		case "abandon_after":
			if d, ok := p.duration(v, "abandon_after", 500*time.Millisecond, time.Minute); ok {
				s.AbandonAfter = d
			}
		case "apology":
			if a, ok := p.str(v, "apology"); ok {
				if !promptRe.MatchString(a) {
					p.errorf(v.Line, "apology", "%q is not a prompt name", a)
				}
				s.Apology = a
			}
		case "ring_timeout":
			if d, ok := p.duration(v, "ring_timeout", 5*time.Second, 2*time.Minute); ok {
				s.RingTimeout = d
			}
		case "preview_timeout":
			if d, ok := p.duration(v, "preview_timeout", 0, 24*time.Hour); ok {
				s.PreviewTimeout = d
			}
		case "caller_id":
			if c, ok := p.str(v, "caller_id"); ok {
				if d := strings.TrimPrefix(c, "+"); d == "" || strings.Trim(d, "0123456789") != "" || len(d) > 20 {
					p.errorf(v.Line, "caller_id", "%q: want digits, optionally after '+'", c)
				}
				s.CallerID = c
			}
		case "timezone":
			if z, ok := p.str(v, "timezone"); ok {
				loc, err := time.LoadLocation(z)
				if err != nil || z == "" {
					p.errorf(v.Line, "timezone", "%q: not an IANA time zone (e.g. Asia/Shanghai)", z)
				} else {
					s.Location = loc
				}
			}
		case "windows":
			windowsNode = v
		case "holidays":
			holidays, holidayLine = p.strs(v, "holidays"), v.Line
		case "dnc":
			s.DNC = p.path(v, "dnc")
		case "retry":
			p.retry(v, s.Retry)
		case "max_attempts":
			if n, ok := p.integer(v, "max_attempts", 1, 100); ok {
				s.MaxAttempts = n
			}
		case "outbound_share":
			if f, ok := p.fraction(v, "outbound_share", 0, 1, true); ok {
				s.OutboundShare = f
			}
		case "script":
			s.Script = p.script(v)
		default:
			p.errorf(k.Line, k.Value, "unknown field (want one of %s)", strings.Join(specFields, ", "))
		}
	}
	hol := map[string]bool{}
	for _, h := range holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			p.errorf(holidayLine, "holidays", "%q: want YYYY-MM-DD", h)
			continue
		}
		hol[h] = true
	}
	p.windows(windowsNode, s, hol)
	if s.Name == "" {
		p.errorf(root.Line, "name", "missing")
	}
	if s.Mode == "" && s.lines["mode"] == 0 {
		p.errorf(root.Line, "mode", "missing (preview or progressive)")
	}
	if s.Queue == "" {
		p.errorf(s.lines["queue"], "queue", "missing: the queue whose agents work the campaign")
	}
	if s.Tier == "" {
		p.errorf(s.lines["tier"], "tier", "empty")
	}
	if s.List == "" && s.Pull == nil && s.lines["list"] == 0 && s.lines["pull"] == 0 {
		p.errorf(root.Line, "list", "missing: give a contact list (list: file.csv) and/or pull")
	}
	if ratioSet && s.Ratio != 1 && s.Mode == Preview {
		p.errorf(ratioLine, "ratio", "preview mode dials one contact per agent; ratio applies to progressive only")
	}
	return s
}

func (p *specParser) pull(v *yaml.Node) *PullSpec {
	ps := &PullSpec{Timeout: DefaultPullTimeout, MaxPages: 1000}
	for _, kv := range p.pairs(v, "pull") {
		k, val := kv[0], kv[1]
		f := "pull." + k.Value
		switch k.Value {
		case "url":
			u, ok := p.str(val, f)
			if !ok {
				continue
			}
			pu, err := url.Parse(strings.ReplaceAll(u, "{page}", "1"))
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				p.errorf(val.Line, f, "%q: want an http or https URL", u)
			}
			ps.URL = u
		case "auth_header":
			ps.AuthHeader, _ = p.str(val, f)
		case "auth_value":
			ps.AuthValue, _ = p.str(val, f)
		case "timeout":
			if d, ok := p.duration(val, f, 100*time.Millisecond, 5*time.Minute); ok {
				ps.Timeout = d
			}
		case "max_pages":
			if n, ok := p.integer(val, f, 1, 1000000); ok {
				ps.MaxPages = n
			}
		default:
			p.errorf(k.Line, f, "unknown field (want url, auth_header, auth_value, timeout, max_pages)")
		}
	}
	if ps.URL == "" {
		p.errorf(v.Line, "pull.url", "missing")
	}
	return ps
}

func (p *specParser) retry(v *yaml.Node, rules map[Outcome]RetryRule) {
	for _, kv := range p.pairs(v, "retry") {
		k, val := kv[0], kv[1]
		f := "retry." + k.Value
		o := Outcome(k.Value)
		rule, ok := rules[o]
		if !ok {
			p.errorf(k.Line, f, "unknown outcome (want %s)", strings.Join(retryOutcomeNames(), ", "))
			continue
		}
		for _, rkv := range p.pairs(val, f) {
			rk, rv := rkv[0], rkv[1]
			switch rk.Value {
			case "attempts":
				if n, ok := p.integer(rv, f+".attempts", 1, 100); ok {
					rule.Attempts = n
				}
			case "after":
				if d, ok := p.duration(rv, f+".after", 0, 30*24*time.Hour); ok {
					rule.After = d
				}
			default:
				p.errorf(rk.Line, f+"."+rk.Value, "unknown field (want attempts, after)")
			}
		}
		rules[o] = rule
	}
}

var questionKinds = []string{"text", "number", "yesno", "choice"}

func (p *specParser) script(v *yaml.Node) []Question {
	if v.Kind != yaml.SequenceNode {
		p.errorf(v.Line, "script", "want a list of questions")
		return nil
	}
	var out []Question
	seen := map[string]bool{}
	for i, it := range v.Content {
		f := fmt.Sprintf("script[%d]", i)
		q := Question{}
		for _, kv := range p.pairs(it, f) {
			k, val := kv[0], kv[1]
			switch k.Value {
			case "id":
				q.ID, _ = p.str(val, f+".id")
			case "text":
				q.Text, _ = p.str(val, f+".text")
			case "kind":
				q.Kind, _ = p.str(val, f+".kind")
			case "options":
				q.Options = p.strs(val, f+".options")
			case "required":
				q.Required = p.boolean(val, f+".required")
			default:
				p.errorf(k.Line, f+"."+k.Value, "unknown field (want id, text, kind, options, required)")
			}
		}
		line := deref(it).Line
		switch {
		case q.ID == "":
			p.errorf(line, f+".id", "missing")
		case !qidRe.MatchString(q.ID):
			p.errorf(line, f+".id", "%q: want a letter then letters, digits or '_'", q.ID)
		case seen[q.ID]:
			p.errorf(line, f+".id", "question %q given twice", q.ID)
		}
		seen[q.ID] = true
		if q.Text == "" {
			p.errorf(line, f+".text", "missing")
		}
		if q.Kind == "" {
			q.Kind = "text"
		}
		switch q.Kind {
		case "choice":
			opts := map[string]bool{}
			for _, o := range q.Options {
				if o == "" || opts[o] {
					p.errorf(line, f+".options", "options must be non-empty and distinct")
					break
				}
				opts[o] = true
			}
			if len(q.Options) < 2 {
				p.errorf(line, f+".options", "a choice needs at least two options")
			}
		case "text", "number", "yesno":
			if len(q.Options) > 0 {
				p.errorf(line, f+".options", "only a choice has options")
			}
		default:
			p.errorf(line, f+".kind", "%q: want one of %s", q.Kind, strings.Join(questionKinds, ", "))
		}
		out = append(out, q)
	}
	return out
}

// windows reads the calling windows:
//
//	windows:
//	  default: {mon-fri: "09:00-20:00", sat: "10:00-16:00"}
//	  west:    {timezone: Asia/Urumqi}          # default hours, own zone
//	  south:   {mon-sun: "10:00-21:00"}         # own hours, campaign zone
func (p *specParser) windows(v *yaml.Node, s *Spec, holidays map[string]bool) {
	def := &Window{Name: "default", Location: s.Location, Holidays: holidays}
	s.Windows = Windows{Default: def, Regions: map[string]*Window{}}
	type regionWin struct {
		w        *Window
		line     int
		ownHours bool
		ownZone  bool
		bad      bool // already reported
	}
	var regions []regionWin
	defaultGiven := false
	if v != nil {
		for _, kv := range p.pairs(v, "windows") {
			k, val := kv[0], kv[1]
			name := k.Value
			f := "windows." + name
			w := &Window{Name: name, Location: s.Location, Holidays: holidays}
			ownHours, ownZone := false, false
			errsBefore := len(p.errs)
			for _, wkv := range p.pairs(val, f) {
				wk, wv := wkv[0], wkv[1]
				if wk.Value == "timezone" {
					z, ok := p.str(wv, f+".timezone")
					if !ok {
						continue
					}
					loc, err := time.LoadLocation(z)
					if err != nil || z == "" {
						p.errorf(wv.Line, f+".timezone", "%q: not an IANA time zone (e.g. Asia/Shanghai)", z)
						continue
					}
					w.Location, ownZone = loc, true
					continue
				}
				days, err := hours.ParseDays(wk.Value)
				if err != nil {
					p.errorf(wk.Line, f+"."+wk.Value, "%v (or timezone)", err)
					continue
				}
				hs, ok := p.str(wv, f+"."+wk.Value)
				if !ok {
					continue
				}
				spans, err := hours.ParseSpans(hs)
				if err != nil {
					p.errorf(wv.Line, f+"."+wk.Value, "%v", err)
					continue
				}
				ownHours = true
				for _, d := range days {
					w.Hours[d] = append(w.Hours[d], spans...)
				}
			}
			for d := range w.Hours {
				w.Hours[d] = mergeSpans(w.Hours[d])
			}
			if name == "default" {
				defaultGiven = true
				if ownZone {
					p.errorf(k.Line, f+".timezone", "the default window uses the campaign's timezone; set timezone at the top")
				}
				def.Hours = w.Hours
				if !ownHours && len(p.errs) == errsBefore {
					p.errorf(k.Line, f, "no hours (e.g. mon-fri: \"09:00-20:00\")")
				}
				continue
			}
			if strings.TrimSpace(name) == "" {
				p.errorf(k.Line, f, "empty region name")
				continue
			}
			regions = append(regions, regionWin{w: w, line: k.Line, ownHours: ownHours, ownZone: ownZone, bad: len(p.errs) > errsBefore})
		}
	}
	if !defaultGiven {
		spans, _ := hours.ParseSpans(DefaultHours)
		for d := range def.Hours {
			def.Hours[d] = spans
		}
	}
	for _, r := range regions {
		if !r.ownHours {
			if !r.ownZone && !r.bad {
				p.errorf(r.line, "windows."+r.w.Name, "neither hours nor timezone: leave the region out to use the default window")
			}
			r.w.Hours = def.Hours
		}
		s.Windows.Regions[r.w.Name] = r.w
	}
}

// Names are the engine's names a spec refers to.
type Names struct {
	Queues []string
	Tiers  []string
	Agents []string
}

// CheckNames reports the spec's references to queues, tiers and agents
// the engine does not have, with the spec's lines.
func (s *Spec) CheckNames(n Names) error {
	var errs SpecErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, &SpecError{File: s.File, Line: s.lines[field], Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !slices.Contains(n.Queues, s.Queue) {
		bad("queue", "no queue named %q", s.Queue)
	}
	if !slices.Contains(n.Tiers, s.Tier) {
		bad("tier", "no tier named %q", s.Tier)
	}
	for _, a := range s.Agents {
		if !slices.Contains(n.Agents, a) {
			bad("agents", "no agent %q", a)
		}
	}
	return errs.err()
}

// Regions lists the regions with a window of their own, sorted.
func (s *Spec) Regions() []string {
	out := make([]string, 0, len(s.Windows.Regions))
	for r := range s.Windows.Regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
