package ivr

import (
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// Registry holds the loaded flows and the access numbers bound to them.
// Reads are lock-free; a reload swaps the whole set at once, so a call that
// took a *Flow keeps running that version.
type Registry struct {
	opts LoadOptions
	mu   sync.Mutex // serialises loads
	dir  string
	cur  atomic.Pointer[flowSet]
}

type flowSet struct {
	flows   map[string]*Flow
	numbers map[string]string // access number → flow name
	// languages: access number → prompt language, where the number runs
	// its flow in another language than the flow's own (10011: main in zh).
	languages map[string]string
	version   int64
}

// NewRegistry returns an empty registry; LoadDir fills it.
func NewRegistry(opts LoadOptions) *Registry {
	r := &Registry{opts: opts}
	r.cur.Store(&flowSet{flows: map[string]*Flow{}, numbers: map[string]string{}, languages: map[string]string{}})
	return r
}

// LoadDir loads every *.yaml / *.yml file in dir and binds access numbers
// (number → flow name). Everything is checked before anything changes: on
// error the previous flows stay in service and the returned ErrorList names
// every problem. numbers nil keeps the current bindings.
func (r *Registry) LoadDir(dir string, numbers map[string]string) error {
	return r.LoadDirLanguages(dir, numbers, nil)
}

// LoadDirLanguages is LoadDir with a prompt language per access number
// (number → language; numbers not listed use their flow's language). The
// prompt set of every such language is checked for everything the flow
// plays. languages nil keeps the current ones.
func (r *Registry) LoadDirLanguages(dir string, numbers, languages map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	if numbers == nil {
		numbers = old.numbers
	}
	if languages == nil {
		languages = old.languages
	}
	set, err := loadDir(dir, numbers, languages, r.opts)
	if err != nil {
		return err
	}
	set.version = old.version + 1
	r.dir = dir
	r.cur.Store(set)
	return nil
}

// Reload loads the directory of the last successful LoadDir again (SIGHUP,
// admin call), keeping the bindings.
func (r *Registry) Reload() error {
	r.mu.Lock()
	dir := r.dir
	r.mu.Unlock()
	if dir == "" {
		return fmt.Errorf("ivr: reload: no flow directory loaded yet")
	}
	return r.LoadDirLanguages(dir, nil, nil)
}

// Flow returns the current version of a flow.
func (r *Registry) Flow(name string) (*Flow, bool) {
	f, ok := r.cur.Load().flows[name]
	return f, ok
}

// FlowForNumber returns the flow bound to an access number.
func (r *Registry) FlowForNumber(number string) (*Flow, bool) {
	s := r.cur.Load()
	f, ok := s.flows[s.numbers[number]]
	return f, ok
}

// LanguageForNumber is the prompt language configured for an access
// number, "" when it runs in its flow's own language.
func (r *Registry) LanguageForNumber(number string) string {
	return r.cur.Load().languages[number]
}

// Names lists the loaded flows, sorted.
func (r *Registry) Names() []string {
	s := r.cur.Load()
	out := make([]string, 0, len(s.flows))
	for n := range s.flows {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Version counts successful loads (0 = nothing loaded).
func (r *Registry) Version() int64 { return r.cur.Load().version }

func loadDir(dir string, numbers, languages map[string]string, opts LoadOptions) (*flowSet, error) {
	entries, err := opts.readDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ivr: read flow directory: %w", err)
	}
	var errs ErrorList
	set := &flowSet{flows: map[string]*Flow{}, numbers: map[string]string{}, languages: map[string]string{}}
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, name)
		data, err := opts.readFile(path)
		if err != nil {
			errs = append(errs, &FlowError{File: path, Msg: err.Error()})
			continue
		}
		f, err := ParseFlow(path, data, opts)
		if err != nil {
			if l, ok := err.(ErrorList); ok {
				errs = append(errs, l...)
			} else {
				errs = append(errs, &FlowError{File: path, Msg: err.Error()})
			}
			continue
		}
		if prev, dup := set.flows[f.Name]; dup {
			errs = append(errs, &FlowError{File: path, Msg: fmt.Sprintf("flow name %q is also used by %s", f.Name, prev.File)})
			continue
		}
		set.flows[f.Name] = f
	}
	// Cross-flow checks need every flow parsed first.
	for _, name := range sortedNames(set.flows) {
		f := set.flows[name]
		for _, id := range sortedIDs(f) {
			nd := f.Nodes[id]
			if nd.Type == TypeTransfer && nd.TransferKind == TransferFlow && set.flows[nd.Target] == nil {
				errs = append(errs, &FlowError{File: f.File, Line: nd.Line, Node: id, Msg: fmt.Sprintf("transfer to unknown flow %q", nd.Target)})
			}
		}
	}
	nums := make([]string, 0, len(numbers))
	for num := range numbers {
		nums = append(nums, num)
	}
	sort.Strings(nums)
	for _, num := range nums {
		flow := numbers[num]
		if set.flows[flow] == nil {
			errs = append(errs, &FlowError{File: dir, Msg: fmt.Sprintf("access number %s is bound to unknown flow %q", num, flow)})
			continue
		}
		set.numbers[num] = flow
	}
	for _, num := range sortedKeys(languages) {
		lang := languages[num]
		f := set.flows[set.numbers[num]]
		switch {
		case set.numbers[num] == "":
			errs = append(errs, &FlowError{File: dir, Msg: fmt.Sprintf("language %q set for access number %s, which is not bound to a flow", lang, num)})
			continue
		case !nodeIDRe.MatchString(lang):
			errs = append(errs, &FlowError{File: dir, Msg: fmt.Sprintf("access number %s: language %q must be a plain directory name", num, lang)})
			continue
		case f == nil:
			continue // reported above
		}
		if lang != f.Language && opts.PromptRoot != "" {
			p := &parser{file: f.File}
			p.checkPrompts(f, sortedIDs(f), opts, lang)
			for _, e := range p.errs {
				e.Msg = "access number " + num + " (" + lang + "): " + e.Msg
			}
			errs = append(errs, p.errs...)
		}
		set.languages[num] = lang
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(set.flows) == 0 {
		return nil, fmt.Errorf("ivr: no flows (*.yaml) in %s", dir)
	}
	return set, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedNames(m map[string]*Flow) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
