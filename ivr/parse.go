package ivr

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hotlinecc/hotline/routing/hours"
	"gopkg.in/yaml.v3"
)

// maxFlowBytes bounds a flow file: flows are hand-written, so anything larger
// is a mistake (or an attack on the YAML decoder).
const maxFlowBytes = 1 << 20

// dtmfDigits are the keys a caller can press.
const dtmfDigits = "0123456789*#"

var (
	varNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	nodeIDRe     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	yamlLineRe   = regexp.MustCompile(`line (\d+)`)
	promptNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)
)

// LoadOptions tune loading and validation.
type LoadOptions struct {
	// PromptRoot, when set, makes validation check that every prompt a flow
	// names exists as PromptRoot/<language>/<name>.wav.
	PromptRoot string
	// FS, when set, is where flows and prompts are read (paths relative to
	// it) instead of the operating system's files: `hotline -check` of the
	// embedded demo reads it in place.
	FS fs.FS
}

func (o LoadOptions) stat(name string) error {
	if o.FS != nil {
		_, err := fs.Stat(o.FS, name)
		return err
	}
	_, err := os.Stat(name)
	return err
}

func (o LoadOptions) readDir(name string) ([]fs.DirEntry, error) {
	if o.FS != nil {
		return fs.ReadDir(o.FS, name)
	}
	return os.ReadDir(name)
}

func (o LoadOptions) readFile(name string) ([]byte, error) {
	if o.FS != nil {
		return fs.ReadFile(o.FS, name)
	}
	return os.ReadFile(name)
}

// ParseFlow parses and validates one flow file. file names the flow in error
// messages; the flow's name is its `name:` field or else the file's base name
// without extension. On failure the error is an ErrorList holding every
// problem found, and the flow is nil.
func ParseFlow(file string, data []byte, opts LoadOptions) (*Flow, error) {
	p := &parser{file: file}
	f := p.parse(data)
	if f != nil {
		p.validate(f, opts)
		f.File = file
		if f.Name == "" {
			base := filepath.Base(file)
			f.Name = strings.TrimSuffix(base, filepath.Ext(base))
		}
	}
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

type parser struct {
	file string
	errs ErrorList
}

func (p *parser) errorf(line int, node, format string, args ...any) {
	p.errs = append(p.errs, &FlowError{File: p.file, Line: line, Node: node, Msg: fmt.Sprintf(format, args...)})
}

// decode runs the YAML decoder and turns any panic inside it into an error:
// a malformed flow file must never take the engine down.
func decode(data []byte) (doc yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml decoder failed: %v", r)
		}
	}()
	err = yaml.Unmarshal(data, &doc)
	return doc, err
}

func (p *parser) parse(data []byte) *Flow {
	if len(data) > maxFlowBytes {
		p.errorf(0, "", "file is %d bytes, larger than the %d allowed", len(data), maxFlowBytes)
		return nil
	}
	doc, err := decode(data)
	if err != nil {
		line := 0
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
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
	if root == nil || root.Kind != yaml.MappingNode {
		p.errorf(doc.Content[0].Line, "", "a flow must be a mapping with name, start and nodes")
		return nil
	}
	f := &Flow{Language: "en"}
	var nodesNode *yaml.Node
	var startLine int
	for _, kv := range p.pairs(root, "") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "name":
			f.Name = p.str(v, "")
		case "description":
			f.Description = p.str(v, "")
		case "language":
			f.Language = p.str(v, "")
			if !nodeIDRe.MatchString(f.Language) {
				p.errorf(v.Line, "", "language %q must be a plain directory name", f.Language)
			}
		case "start":
			f.Start, startLine = p.str(v, ""), v.Line
		case "calendars":
			f.Calendars = p.calendars(v)
		case "nodes":
			nodesNode = v
		default:
			p.errorf(k.Line, "", "unknown field %q (want name, description, language, start, calendars, nodes)", k.Value)
		}
	}
	if nodesNode == nil {
		p.errorf(root.Line, "", "flow has no nodes")
		return nil
	}
	f.Nodes = map[string]*Node{}
	first := ""
	for _, kv := range p.pairs(nodesNode, "") {
		id := kv[0].Value
		if !nodeIDRe.MatchString(id) {
			p.errorf(kv[0].Line, id, "node name must be letters, digits, '_', '-' or '.'")
			continue
		}
		nd := p.node(id, kv[0].Line, kv[1])
		if nd == nil {
			continue
		}
		if first == "" {
			first = id
		}
		f.Nodes[id] = nd
	}
	if f.Start == "" {
		f.Start = first
		startLine = nodesNode.Line
	}
	if f.Start != "" && f.Nodes[f.Start] == nil && len(f.Nodes) > 0 {
		p.errorf(startLine, "", "start node %q does not exist", f.Start)
	}
	if len(f.Nodes) == 0 {
		p.errorf(nodesNode.Line, "", "flow has no valid nodes")
		return nil
	}
	return f
}

// deref follows YAML aliases (bounded: the decoder already rejects cycles).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// pairs returns the key/value pairs of a mapping, reporting duplicate keys
// and non-mappings.
func (p *parser) pairs(n *yaml.Node, node string) [][2]*yaml.Node {
	n = deref(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, node, "want a mapping of key: value")
		return nil
	}
	seen := map[string]bool{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i].Line, node, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			p.errorf(k.Line, node, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func (p *parser) str(v *yaml.Node, node string) string {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v.Line, node, "want a single value, not a list or mapping")
		return ""
	}
	return v.Value
}

// strs accepts either one string or a list of strings.
func (p *parser) strs(v *yaml.Node, node string) []string {
	if v.Kind == yaml.ScalarNode {
		if v.Value == "" {
			return nil
		}
		return []string{v.Value}
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v.Line, node, "want a string or a list of strings")
		return nil
	}
	var out []string
	for _, e := range v.Content {
		e = deref(e)
		if e == nil || e.Kind != yaml.ScalarNode {
			p.errorf(v.Line, node, "want a list of strings")
			continue
		}
		out = append(out, e.Value)
	}
	return out
}

func (p *parser) dur(v *yaml.Node, node string) time.Duration {
	s := p.str(v, node)
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.errorf(v.Line, node, "bad duration %q (want e.g. 300ms, 5s, 2m)", s)
		return 0
	}
	return d
}

func (p *parser) integer(v *yaml.Node, node string, lo, hi int) int {
	s := p.str(v, node)
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.errorf(v.Line, node, "bad number %q (want %d..%d)", s, lo, hi)
		return lo
	}
	return n
}

func (p *parser) boolean(v *yaml.Node, node string) bool {
	s := p.str(v, node)
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.errorf(v.Line, node, "bad boolean %q (want true or false)", s)
	}
	return b
}

func (p *parser) digit(v *yaml.Node, node string, allowEmpty bool) string {
	s := p.str(v, node)
	if (s == "" && allowEmpty) || (len(s) == 1 && strings.Contains(dtmfDigits, s)) {
		return s
	}
	p.errorf(v.Line, node, "bad digit %q (want one of %s)", s, dtmfDigits)
	return ""
}

func (p *parser) varName(v *yaml.Node, node string) string {
	s := p.str(v, node)
	if !varNameRe.MatchString(s) {
		p.errorf(v.Line, node, "bad variable name %q", s)
	}
	return s
}

func (p *parser) regex(v *yaml.Node, node string, whole bool) *regexp.Regexp {
	s := p.str(v, node)
	re, err := regexp.Compile(s)
	if err == nil && whole {
		re, err = regexp.Compile("^(?:" + s + ")$")
	}
	if err != nil {
		p.errorf(v.Line, node, "bad pattern %q: %v", s, err)
		return nil
	}
	return re
}

// ref reads a node reference and remembers it for validation.
func (p *parser) ref(nd *Node, field string, v *yaml.Node) string {
	s := p.str(v, nd.ID)
	if s == "" {
		p.errorf(v.Line, nd.ID, "%s has no target node", field)
		return ""
	}
	nd.refs = append(nd.refs, nodeRef{field: field, target: s, line: v.Line})
	return s
}

// field parses one key of a node into it.
type field func(p *parser, nd *Node, v *yaml.Node)

var (
	fNext    field = func(p *parser, nd *Node, v *yaml.Node) { nd.Next = p.ref(nd, "next", v) }
	fPrompts field = func(p *parser, nd *Node, v *yaml.Node) { nd.Prompts = p.strs(v, nd.ID) }
	fFailure field = func(p *parser, nd *Node, v *yaml.Node) { nd.Failure = p.ref(nd, "failure", v) }
	fTimeout field = func(p *parser, nd *Node, v *yaml.Node) { nd.Timeout = p.dur(v, nd.ID) }
	fVar     field = func(p *parser, nd *Node, v *yaml.Node) { nd.Var = p.varName(v, nd.ID) }
	fInvalid field = func(p *parser, nd *Node, v *yaml.Node) { nd.Invalid = p.strs(v, nd.ID) }
	fNoInput field = func(p *parser, nd *Node, v *yaml.Node) { nd.NoInput = p.strs(v, nd.ID) }
	fRetries field = func(p *parser, nd *Node, v *yaml.Node) { nd.Retries = p.integer(v, nd.ID, 1, 20) }
)

// schema lists, per node type, the fields it accepts. Any other field is an
// error, so a typo cannot silently change a flow.
var schema = map[NodeType]map[string]field{
	TypePlay: {
		"prompt": fPrompts, "prompts": fPrompts, "next": fNext,
		"barge_in": func(p *parser, nd *Node, v *yaml.Node) {
			s := p.str(v, nd.ID)
			switch b, err := strconv.ParseBool(s); {
			case err == nil && b:
				nd.BargeIn = dtmfDigits
			case err == nil:
				nd.BargeIn = ""
			default:
				for _, c := range s {
					if !strings.ContainsRune(dtmfDigits, c) {
						p.errorf(v.Line, nd.ID, "barge_in %q: want true, false or the digits that interrupt", s)
						return
					}
				}
				nd.BargeIn = s
			}
		},
	},
	TypeMenu: {
		"prompt": fPrompts, "prompts": fPrompts, "timeout": fTimeout, "no_input": fNoInput,
		"invalid": fInvalid, "retries": fRetries,
		"default": func(p *parser, nd *Node, v *yaml.Node) { nd.Default = p.ref(nd, "default", v) },
		"options": func(p *parser, nd *Node, v *yaml.Node) {
			nd.Options = map[string]string{}
			for _, kv := range p.pairs(v, nd.ID) {
				d := kv[0].Value
				if len(d) != 1 || !strings.Contains(dtmfDigits, d) {
					p.errorf(kv[0].Line, nd.ID, "menu option %q is not a digit (want one of %s)", d, dtmfDigits)
					continue
				}
				if kv[1].Kind != yaml.ScalarNode || kv[1].Value == "" || kv[1].Tag == "!!null" {
					p.errorf(kv[0].Line, nd.ID, "menu option %q has no target node", d)
					continue
				}
				nd.Options[d] = p.ref(nd, "option "+d, kv[1])
			}
		},
	},
	TypeCollect: {
		"prompt": fPrompts, "prompts": fPrompts, "var": fVar, "next": fNext, "failure": fFailure,
		"invalid": fInvalid, "no_input": fNoInput, "retries": fRetries, "first_digit_timeout": fTimeout,
		"min":                 func(p *parser, nd *Node, v *yaml.Node) { nd.MinDigits = p.integer(v, nd.ID, 0, 64) },
		"max":                 func(p *parser, nd *Node, v *yaml.Node) { nd.MaxDigits = p.integer(v, nd.ID, 1, 64) },
		"terminator":          func(p *parser, nd *Node, v *yaml.Node) { nd.Terminator = p.digit(v, nd.ID, true) },
		"inter_digit_timeout": func(p *parser, nd *Node, v *yaml.Node) { nd.InterDigit = p.dur(v, nd.ID) },
		// The whole input must match: an account pattern is not a search.
		"pattern": func(p *parser, nd *Node, v *yaml.Node) { nd.Pattern = p.regex(v, nd.ID, true) },
		"secret":  func(p *parser, nd *Node, v *yaml.Node) { nd.Secret = p.boolean(v, nd.ID) },
	},
	TypeLookup: {
		"next": fNext, "timeout": fTimeout,
		"by": func(p *parser, nd *Node, v *yaml.Node) {
			nd.By = p.str(v, nd.ID)
			if nd.By != "caller" && nd.By != "var" {
				p.errorf(v.Line, nd.ID, "lookup by %q: want caller or var", nd.By)
			}
		},
		"var":          func(p *parser, nd *Node, v *yaml.Node) { nd.KeyVar = p.varName(v, nd.ID) },
		"default_tier": func(p *parser, nd *Node, v *yaml.Node) { nd.DefaultTier = p.str(v, nd.ID) },
	},
	TypeBranch: {
		"default": func(p *parser, nd *Node, v *yaml.Node) { nd.Default = p.ref(nd, "default", v) },
		"rules":   func(p *parser, nd *Node, v *yaml.Node) { nd.Rules = p.rules(nd, v) },
	},
	TypeSet: {
		"next": fNext,
		"vars": func(p *parser, nd *Node, v *yaml.Node) {
			nd.Assign = map[string]string{}
			for _, kv := range p.pairs(v, nd.ID) {
				nd.Assign[p.varName(kv[0], nd.ID)] = p.str(kv[1], nd.ID)
			}
		},
	},
	TypeSay: {
		"next": fNext, "before": fPrompts,
		"after":    func(p *parser, nd *Node, v *yaml.Node) { nd.After = p.strs(v, nd.ID) },
		"digits":   func(p *parser, nd *Node, v *yaml.Node) { nd.SayDigits = p.str(v, nd.ID) },
		"number":   func(p *parser, nd *Node, v *yaml.Node) { nd.SayNumber = p.str(v, nd.ID) },
		"money":    func(p *parser, nd *Node, v *yaml.Node) { nd.SayMoney = p.str(v, nd.ID) },
		"duration": func(p *parser, nd *Node, v *yaml.Node) { nd.SayDuration = p.str(v, nd.ID) },
	},
	TypeQueue: {
		"prompt": fPrompts, "prompts": fPrompts, "next": fNext, "failure": fFailure,
		"queue":          func(p *parser, nd *Node, v *yaml.Node) { nd.Queue = p.str(v, nd.ID) },
		"tier":           func(p *parser, nd *Node, v *yaml.Node) { nd.Tier = p.str(v, nd.ID) },
		"region":         func(p *parser, nd *Node, v *yaml.Node) { nd.Region = p.str(v, nd.ID) },
		"priority":       func(p *parser, nd *Node, v *yaml.Node) { nd.Priority = p.integer(v, nd.ID, 0, 100) },
		"moh":            func(p *parser, nd *Node, v *yaml.Node) { nd.MOH = p.str(v, nd.ID) },
		"announce_every": func(p *parser, nd *Node, v *yaml.Node) { nd.AnnounceEvery = p.dur(v, nd.ID) },
		"announce_wait":  func(p *parser, nd *Node, v *yaml.Node) { nd.AnnounceWait = p.boolean(v, nd.ID) },
		"announce_agent": func(p *parser, nd *Node, v *yaml.Node) { nd.AnnounceAgent = p.str(v, nd.ID) },
		"max_wait":       func(p *parser, nd *Node, v *yaml.Node) { nd.MaxWait = p.dur(v, nd.ID) },
		"overflow":       func(p *parser, nd *Node, v *yaml.Node) { nd.Overflow = p.ref(nd, "overflow", v) },
		"leave_digit":    func(p *parser, nd *Node, v *yaml.Node) { nd.LeaveDigit = p.digit(v, nd.ID, false) },
		"voicemail":      func(p *parser, nd *Node, v *yaml.Node) { nd.Voicemail = p.ref(nd, "voicemail", v) },
		"callback_after": func(p *parser, nd *Node, v *yaml.Node) { nd.CallbackAfter = p.dur(v, nd.ID) },
		"callback_wait_over": func(p *parser, nd *Node, v *yaml.Node) {
			nd.CallbackWaitOver = p.dur(v, nd.ID)
		},
		"callback_offer": func(p *parser, nd *Node, v *yaml.Node) { nd.CallbackOffer = p.str(v, nd.ID) },
		"callback_digit": func(p *parser, nd *Node, v *yaml.Node) { nd.CallbackDigit = p.digit(v, nd.ID, false) },
		"callback":       func(p *parser, nd *Node, v *yaml.Node) { nd.CallbackNode = p.ref(nd, "callback", v) },
	},
	TypeCallback: {
		"prompt": fPrompts, "prompts": fPrompts, "failure": fFailure, "var": fVar, "timeout": fTimeout,
		"retries": fRetries, "invalid": fInvalid, "no_input": fNoInput,
		"confirm":             func(p *parser, nd *Node, v *yaml.Node) { nd.Confirm = p.strs(v, nd.ID) },
		"enter":               func(p *parser, nd *Node, v *yaml.Node) { nd.Enter = p.strs(v, nd.ID) },
		"done":                func(p *parser, nd *Node, v *yaml.Node) { nd.Done = p.strs(v, nd.ID) },
		"min":                 func(p *parser, nd *Node, v *yaml.Node) { nd.MinDigits = p.integer(v, nd.ID, 1, 32) },
		"max":                 func(p *parser, nd *Node, v *yaml.Node) { nd.MaxDigits = p.integer(v, nd.ID, 1, 32) },
		"queue":               func(p *parser, nd *Node, v *yaml.Node) { nd.Queue = p.str(v, nd.ID) },
		"tier":                func(p *parser, nd *Node, v *yaml.Node) { nd.Tier = p.str(v, nd.ID) },
		"region":              func(p *parser, nd *Node, v *yaml.Node) { nd.Region = p.str(v, nd.ID) },
		"priority":            func(p *parser, nd *Node, v *yaml.Node) { nd.Priority = p.integer(v, nd.ID, 0, 100) },
		"inter_digit_timeout": func(p *parser, nd *Node, v *yaml.Node) { nd.InterDigit = p.dur(v, nd.ID) },
	},
	TypeTransfer: {
		"failure":  fFailure,
		"flow":     transferTo(TransferFlow),
		"number":   transferTo(TransferNumber),
		"external": transferTo(TransferExternal),
		"agent":    transferTo(TransferAgent),
		"trunk":    func(p *parser, nd *Node, v *yaml.Node) { nd.Trunk = p.str(v, nd.ID) },
	},
	TypeRecord: {
		"prompt": fPrompts, "prompts": fPrompts, "next": fNext, "var": fVar,
		"beep":            func(p *parser, nd *Node, v *yaml.Node) { nd.Beep = p.str(v, nd.ID) },
		"max_length":      func(p *parser, nd *Node, v *yaml.Node) { nd.MaxLength = p.dur(v, nd.ID) },
		"silence_timeout": func(p *parser, nd *Node, v *yaml.Node) { nd.Silence = p.dur(v, nd.ID) },
		"stop_digit":      func(p *parser, nd *Node, v *yaml.Node) { nd.StopDigit = p.digit(v, nd.ID, true) },
	},
	TypeSurvey: {
		"prompt": fPrompts, "prompts": fPrompts, "next": fNext, "var": fVar, "timeout": fTimeout,
		"retries": fRetries, "invalid": fInvalid, "no_input": fNoInput,
		"min":    func(p *parser, nd *Node, v *yaml.Node) { nd.Min = p.integer(v, nd.ID, 0, 9) },
		"max":    func(p *parser, nd *Node, v *yaml.Node) { nd.Max = p.integer(v, nd.ID, 0, 9) },
		"thanks": func(p *parser, nd *Node, v *yaml.Node) { nd.Thanks = p.strs(v, nd.ID) },
	},
	TypeHangup: {
		"prompt": fPrompts, "prompts": fPrompts,
		"reason": func(p *parser, nd *Node, v *yaml.Node) { nd.Reason = p.str(v, nd.ID) },
	},
}

func transferTo(kind TransferKind) field {
	return func(p *parser, nd *Node, v *yaml.Node) {
		if nd.TransferKind != "" {
			p.errorf(v.Line, nd.ID, "transfer has more than one target (%s and %s)", nd.TransferKind, kind)
			return
		}
		nd.TransferKind, nd.Target = kind, p.str(v, nd.ID)
		if nd.Target == "" {
			p.errorf(v.Line, nd.ID, "transfer %s has no target", kind)
		}
	}
}

func typeNames() string {
	names := make([]string, 0, len(schema))
	for t := range schema {
		names = append(names, string(t))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (p *parser) node(id string, line int, v *yaml.Node) *Node {
	nd := &Node{ID: id, Line: line}
	kvs := p.pairs(v, id)
	if v := deref(v); v == nil || v.Kind != yaml.MappingNode {
		return nil
	}
	for _, kv := range kvs {
		if kv[0].Value == "type" {
			nd.Type = NodeType(p.str(kv[1], id))
		}
	}
	fields, ok := schema[nd.Type]
	if !ok {
		if nd.Type == "" {
			p.errorf(line, id, "node has no type (want one of %s)", typeNames())
		} else {
			p.errorf(line, id, "unknown node type %q (want one of %s)", nd.Type, typeNames())
		}
		return nil
	}
	seen := map[string]bool{}
	for _, kv := range kvs {
		k := kv[0].Value
		if k == "type" || k == "description" {
			continue
		}
		fn, ok := fields[k]
		if !ok {
			p.errorf(kv[0].Line, id, "unknown field %q for a %s node", k, nd.Type)
			continue
		}
		seen[k] = true
		fn(p, nd, kv[1])
	}
	p.defaults(nd, seen)
	return nd
}

// defaults fills unset fields and reports missing required ones.
func (p *parser) defaults(nd *Node, seen map[string]bool) {
	need := func(field string, ok bool) {
		if !ok {
			p.errorf(nd.Line, nd.ID, "%s node needs %q", nd.Type, field)
		}
	}
	orDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	switch nd.Type {
	case TypePlay:
		need("prompts", len(nd.Prompts) > 0)
		need("next", seen["next"])
	case TypeMenu:
		need("prompt", len(nd.Prompts) > 0)
		need("options", seen["options"])
		need("default", seen["default"])
		orDur(&nd.Timeout, 5*time.Second)
		if nd.Retries == 0 {
			nd.Retries = 3
		}
	case TypeCollect:
		need("var", seen["var"])
		need("next", seen["next"])
		need("failure", seen["failure"])
		if !seen["min"] {
			nd.MinDigits = 1
		}
		if !seen["max"] {
			nd.MaxDigits = 20
		}
		if nd.MaxDigits < nd.MinDigits {
			p.errorf(nd.Line, nd.ID, "max (%d) is less than min (%d)", nd.MaxDigits, nd.MinDigits)
		}
		if !seen["terminator"] {
			nd.Terminator = "#"
		}
		orDur(&nd.Timeout, 5*time.Second)
		orDur(&nd.InterDigit, 3*time.Second)
		if nd.Retries == 0 {
			nd.Retries = 3
		}
	case TypeLookup:
		need("next", seen["next"])
		if nd.By == "" {
			nd.By = "caller"
		}
		if nd.By == "var" {
			need("var", seen["var"])
		} else if seen["var"] {
			p.errorf(nd.Line, nd.ID, "lookup by caller takes no var (set by: var)")
		}
		orDur(&nd.Timeout, 300*time.Millisecond)
		if nd.DefaultTier == "" {
			nd.DefaultTier = "normal"
		}
	case TypeBranch:
		need("default", seen["default"])
	case TypeSet:
		need("vars", len(nd.Assign) > 0)
		need("next", seen["next"])
	case TypeSay:
		need("next", seen["next"])
		n := 0
		for _, v := range []string{nd.SayDigits, nd.SayNumber, nd.SayMoney, nd.SayDuration} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			p.errorf(nd.Line, nd.ID, "say node needs exactly one of \"digits\", \"number\", \"money\" or \"duration\"")
		}
	case TypeQueue:
		need("queue", nd.Queue != "")
		if !seen["tier"] {
			nd.Tier = "${tier}"
		}
		if !seen["region"] {
			nd.Region = "${region}"
		}
		if !seen["moh"] {
			nd.MOH = "moh"
		}
		if !seen["announce_agent"] {
			nd.AnnounceAgent = "agent"
		}
		if nd.MaxWait > 0 {
			need("overflow", seen["overflow"])
		} else if seen["overflow"] {
			p.errorf(nd.Line, nd.ID, "overflow is set but max_wait is not")
		}
		if seen["leave_digit"] {
			need("voicemail", seen["voicemail"])
		} else if seen["voicemail"] {
			p.errorf(nd.Line, nd.ID, "voicemail is set but leave_digit is not")
		}
		switch {
		case seen["callback_digit"]:
			need("callback", seen["callback"])
			if nd.CallbackAfter == 0 && nd.CallbackWaitOver == 0 {
				p.errorf(nd.Line, nd.ID, "callback_digit is set but neither callback_after nor callback_wait_over says when it is offered")
			}
			if nd.CallbackDigit != "" && nd.CallbackDigit == nd.LeaveDigit {
				p.errorf(nd.Line, nd.ID, "callback_digit and leave_digit are both %q", nd.CallbackDigit)
			}
			if !seen["callback_offer"] {
				nd.CallbackOffer = "callback-offer"
			}
		case seen["callback"] || seen["callback_after"] || seen["callback_wait_over"] || seen["callback_offer"]:
			p.errorf(nd.Line, nd.ID, "callback options are set but callback_digit is not")
		}
	case TypeCallback:
		if !seen["prompt"] && !seen["prompts"] {
			nd.Prompts = []string{"callback-number"}
		}
		if !seen["confirm"] {
			nd.Confirm = []string{"callback-confirm"}
		}
		if !seen["enter"] {
			nd.Enter = []string{"callback-enter"}
		}
		if !seen["done"] {
			nd.Done = []string{"callback-kept"}
		}
		if !seen["min"] {
			nd.MinDigits = 5
		}
		if !seen["max"] {
			nd.MaxDigits = 15
		}
		if nd.MaxDigits < nd.MinDigits {
			p.errorf(nd.Line, nd.ID, "max (%d) is less than min (%d)", nd.MaxDigits, nd.MinDigits)
		}
		if nd.Var == "" {
			nd.Var = "callback_number"
		}
		if !seen["tier"] {
			nd.Tier = "${tier}"
		}
		if !seen["region"] {
			nd.Region = "${region}"
		}
		orDur(&nd.Timeout, 5*time.Second)
		orDur(&nd.InterDigit, 3*time.Second)
		if nd.Retries == 0 {
			nd.Retries = 3
		}
	case TypeTransfer:
		if nd.TransferKind == "" {
			p.errorf(nd.Line, nd.ID, "transfer node needs one of \"flow\", \"number\", \"external\" or \"agent\"")
		}
		if seen["trunk"] && nd.TransferKind != TransferExternal {
			p.errorf(nd.Line, nd.ID, "trunk is only for external transfers")
		}
	case TypeRecord:
		need("next", seen["next"])
		if !seen["beep"] {
			nd.Beep = "beep"
		}
		orDur(&nd.MaxLength, 2*time.Minute)
		orDur(&nd.Silence, 5*time.Second)
		if !seen["stop_digit"] {
			nd.StopDigit = "#"
		}
		if nd.Var == "" {
			nd.Var = "recording"
		}
	case TypeSurvey:
		need("prompt", len(nd.Prompts) > 0)
		if nd.Var == "" {
			nd.Var = "survey_score"
		}
		if !seen["min"] {
			nd.Min = 1
		}
		if !seen["max"] {
			nd.Max = 5
		}
		if nd.Max < nd.Min {
			p.errorf(nd.Line, nd.ID, "max (%d) is less than min (%d)", nd.Max, nd.Min)
		}
		orDur(&nd.Timeout, 5*time.Second)
		if nd.Retries == 0 {
			nd.Retries = 2
		}
	}
}

func (p *parser) rules(nd *Node, v *yaml.Node) []Rule {
	v = deref(v)
	if v == nil || v.Kind != yaml.SequenceNode {
		p.errorf(nd.Line, nd.ID, "rules must be a list")
		return nil
	}
	var out []Rule
	for _, item := range v.Content {
		item = deref(item)
		if item == nil {
			continue
		}
		r := Rule{Line: item.Line}
		conds := 0
		for _, kv := range p.pairs(item, nd.ID) {
			k, val := kv[0], kv[1]
			switch k.Value {
			case "goto":
				r.Goto = p.ref(nd, "goto", val)
				continue
			case "tier":
				r.Tiers = p.strs(val, nd.ID)
			case "vars":
				r.Vars = map[string]string{}
				for _, vv := range p.pairs(val, nd.ID) {
					r.Vars[p.varName(vv[0], nd.ID)] = p.str(vv[1], nd.ID)
				}
			case "caller":
				r.Caller = p.regex(val, nd.ID, false)
			case "dialled":
				r.Dialled = p.regex(val, nd.ID, false)
			case "open":
				r.Open = p.str(val, nd.ID)
			case "closed":
				r.Closed = p.str(val, nd.ID)
			default:
				p.errorf(k.Line, nd.ID, "unknown rule field %q (want tier, vars, caller, dialled, open, closed, goto)", k.Value)
				continue
			}
			conds++
		}
		if r.Goto == "" {
			p.errorf(item.Line, nd.ID, "rule has no goto")
		}
		if conds == 0 {
			p.errorf(item.Line, nd.ID, "rule has no condition (use the branch default instead)")
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) calendars(v *yaml.Node) map[string]*Calendar {
	out := map[string]*Calendar{}
	for _, kv := range p.pairs(v, "") {
		c := &Calendar{Name: kv[0].Value, Location: time.UTC, Holidays: map[string]bool{}}
		for _, ckv := range p.pairs(kv[1], "") {
			k, val := ckv[0], ckv[1]
			switch k.Value {
			case "timezone":
				loc, err := time.LoadLocation(p.str(val, ""))
				if err != nil {
					p.errorf(val.Line, "", "calendar %q: bad timezone: %v", c.Name, err)
					continue
				}
				c.Location = loc
			case "hours":
				for _, hkv := range p.pairs(val, "") {
					days, err := hours.ParseDays(hkv[0].Value)
					if err != nil {
						p.errorf(hkv[0].Line, "", "calendar %q: %v", c.Name, err)
						continue
					}
					spans, err := hours.ParseSpans(p.str(hkv[1], ""))
					if err != nil {
						p.errorf(hkv[1].Line, "", "calendar %q: %v", c.Name, err)
						continue
					}
					for _, d := range days {
						c.Hours[d] = append(c.Hours[d], spans...)
					}
				}
			case "holidays":
				for _, h := range p.strs(val, "") {
					if _, err := time.Parse(time.DateOnly, h); err != nil {
						p.errorf(val.Line, "", "calendar %q: bad holiday %q (want YYYY-MM-DD)", c.Name, h)
						continue
					}
					c.Holidays[h] = true
				}
			default:
				p.errorf(k.Line, "", "calendar %q: unknown field %q (want timezone, hours, holidays)", c.Name, k.Value)
			}
		}
		out[c.Name] = c
	}
	return out
}
