package ivr

import (
	"path/filepath"
	"sort"
	"strconv"
)

// numberFragments are the prompts `say` needs to speak any number below a
// million and any digit string; a flow that says numbers must ship them all.
var numberFragments = func() []string {
	out := []string{"num/hundred", "num/thousand"}
	for i := 0; i < 20; i++ {
		out = append(out, "num/"+strconv.Itoa(i))
	}
	for i := 20; i < 100; i += 10 {
		out = append(out, "num/"+strconv.Itoa(i))
	}
	return out
}()

// Prompts said around queue announcements.
const (
	promptPosition = "position" // "you are number"
	promptInQueue  = "in-queue" // "in the queue"
	promptWait     = "wait"     // "your expected waiting time is about"
	promptMinutes  = "minutes"
)

// validate checks the graph of a parsed flow: references, reachability,
// input-free loops, calendars and prompt files.
func (p *parser) validate(f *Flow, opts LoadOptions) {
	ids := sortedIDs(f)
	for _, id := range ids {
		nd := f.Nodes[id]
		for _, r := range nd.refs {
			switch t := f.Nodes[r.target]; {
			case t == nil:
				p.errorf(r.line, id, "%s refers to unknown node %q", r.field, r.target)
			case r.field == "callback" && t.Type != TypeCallback:
				p.errorf(r.line, id, "callback refers to %q, a %s node (want a callback node)", r.target, t.Type)
			case r.field != "callback" && t.Type == TypeCallback && t.Queue == "":
				// Only a queue node's callback digit brings a waiting
				// call; reached any other way the node must queue it.
				p.errorf(r.line, id, "%s goes to callback node %q, which has no queue (needed unless reached from a queue's callback digit)", r.field, r.target)
			}
		}
		for _, r := range nd.Rules {
			for _, c := range []string{r.Open, r.Closed} {
				if c != "" && f.Calendars[c] == nil {
					p.errorf(r.Line, id, "rule uses unknown calendar %q", c)
				}
			}
		}
	}
	if f.Nodes[f.Start] == nil {
		return
	}

	reached := map[string]bool{}
	stack := []string{f.Start}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if reached[id] || f.Nodes[id] == nil {
			continue
		}
		reached[id] = true
		for _, r := range f.Nodes[id].refs {
			stack = append(stack, r.target)
		}
	}
	for _, id := range ids {
		if !reached[id] {
			p.errorf(f.Nodes[id].Line, id, "node is unreachable from start node %q", f.Start)
		}
	}

	p.checkSpin(f, ids)
	if opts.PromptRoot != "" {
		p.checkPrompts(f, ids, opts, f.Language)
	}
}

// checkSpin finds cycles made only of nodes that never wait for the caller:
// such a loop would spin the interpreter forever.
func (p *parser) checkSpin(f *Flow, ids []string) {
	const (
		white = iota
		grey
		black
	)
	colour := map[string]int{}
	var visit func(id string)
	visit = func(id string) {
		colour[id] = grey
		nd := f.Nodes[id]
		for _, r := range nd.refs {
			next := f.Nodes[r.target]
			if next == nil || next.Type.waitsForInput() {
				continue
			}
			switch colour[r.target] {
			case grey:
				p.errorf(r.line, id, "%s to %q closes a loop that never waits for input", r.field, r.target)
			case white:
				visit(r.target)
			}
		}
		colour[id] = black
	}
	for _, id := range ids {
		if colour[id] == white && !f.Nodes[id].Type.waitsForInput() {
			visit(id)
		}
	}
}

// checkPrompts checks that the prompt set of lang holds every prompt and
// every number fragment the flow may play (the flow's own language at
// load, other languages for access numbers that run it in them).
func (p *parser) checkPrompts(f *Flow, ids []string, opts LoadOptions, lang string) {
	dir := filepath.Join(opts.PromptRoot, lang)
	sp := speakerFor(lang)
	numbers := sp.fragments(sayNumberKind)
	// A missing prompt is reported once per flow: the first node that needs
	// it is enough to find the gap, and twenty-eight lines per say node
	// would bury the other errors.
	missing := map[string]bool{}
	check := func(nd *Node, names ...string) {
		for _, name := range names {
			if name == "" {
				continue
			}
			if !promptNameRe.MatchString(name) {
				p.errorf(nd.Line, nd.ID, "bad prompt name %q", name)
				continue
			}
			if missing[name] {
				continue
			}
			if err := opts.stat(filepath.Join(dir, name+".wav")); err != nil {
				p.errorf(nd.Line, nd.ID, "prompt %q not found (%s)", name, filepath.Join(dir, name+".wav"))
				missing[name] = true
			}
		}
	}
	for _, id := range ids {
		nd := f.Nodes[id]
		check(nd, nd.Prompts...)
		check(nd, nd.NoInput...)
		check(nd, nd.Invalid...)
		check(nd, nd.After...)
		check(nd, nd.Thanks...)
		check(nd, nd.MOH, nd.Beep, nd.AnnounceAgent, nd.CallbackOffer)
		check(nd, nd.Confirm...)
		check(nd, nd.Enter...)
		check(nd, nd.Done...)
		switch {
		case nd.Type == TypeSay && nd.SayMoney != "":
			check(nd, sp.fragments(sayMoneyKind)...)
		case nd.Type == TypeSay && nd.SayDuration != "":
			check(nd, sp.fragments(sayDurationKind)...)
		case nd.Type == TypeSay, nd.Type == TypeCallback:
			check(nd, numbers...)
		case nd.Type == TypeQueue:
			if nd.AnnounceAgent != "" {
				check(nd, numbers...)
			}
			if nd.AnnounceEvery > 0 {
				check(nd, numbers...)
				check(nd, promptPosition, promptInQueue)
				if nd.AnnounceWait {
					check(nd, promptWait, promptMinutes)
				}
			}
		}
	}
}

func sortedIDs(f *Flow) []string {
	ids := make([]string, 0, len(f.Nodes))
	for id := range f.Nodes {
		ids = append(ids, id)
	}
	// File order reads best in error lists; ID breaks ties.
	sort.Slice(ids, func(i, j int) bool {
		a, b := f.Nodes[ids[i]], f.Nodes[ids[j]]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.ID < b.ID
	})
	return ids
}
