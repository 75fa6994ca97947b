package ivr

// A configuration reload changes flows and access numbers together with
// everything else, and must change nothing when any part is bad: Prepare
// loads and checks a flow set without putting it in service, Commit swaps
// it in (calls in progress keep the flows they hold).

// Prepared is a checked flow set not yet in service.
type Prepared struct {
	set *flowSet
	dir string
}

// Prepare loads every flow in dir and binds numbers (and their prompt
// languages, number → language), checking everything, without touching
// the flows in service.
func (r *Registry) Prepare(dir string, numbers, languages map[string]string) (*Prepared, error) {
	set, err := loadDir(dir, numbers, languages, r.opts)
	if err != nil {
		return nil, err
	}
	return &Prepared{set: set, dir: dir}, nil
}

// Commit puts a prepared set in service.
func (r *Registry) Commit(p *Prepared) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := *p.set
	set.version = r.cur.Load().version + 1
	r.dir = p.dir
	r.cur.Store(&set)
}

// Names lists the prepared flows.
func (p *Prepared) Names() []string { return sortedNames(p.set.flows) }
