package sip

import (
	"sort"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Binding is one registered contact of a user (RFC 3261 §10).
type Binding struct {
	Contact sipmsg.Uri
	Expires time.Time
	// Node is the engine node that accepted the REGISTER (Config.Node), so
	// an engine can tell phones registered through it from those of others.
	Node      string
	Source    string // where the REGISTER came from, host:port
	Transport string
	CallID    string
	CSeq      uint32
}

// Registrar keeps the contacts of registered phones in memory.
type Registrar struct {
	mu          sync.Mutex
	bindings    map[string][]Binding
	maxContacts int
	minExpires  int
	maxExpires  int
	now         func() time.Time
	node        string
	// publishing serialises a user's directory publishes (see Server.publish).
	publishing userLocks
	// version counts changes of the bindings (persist.go).
	version uint64
}

// NewRegistrar returns an empty registrar.
func NewRegistrar() *Registrar {
	return &Registrar{bindings: map[string][]Binding{}, maxContacts: 8, minExpires: 30, maxExpires: 3600, now: time.Now}
}

// Contacts returns the live contacts of a user, newest first.
func (r *Registrar) Contacts(user string) []Binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	live := r.bindings[user][:0:0]
	for _, b := range r.bindings[user] {
		if b.Expires.After(now) {
			live = append(live, b)
		}
	}
	if len(live) == 0 {
		delete(r.bindings, user)
	} else {
		r.bindings[user] = live
	}
	out := append([]Binding(nil), live...)
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.After(out[j].Expires) })
	return out
}

// Users lists the users with a binding here (live or not yet swept).
func (r *Registrar) Users() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.bindings))
	for u := range r.bindings {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Registered reports whether a user has at least one live contact
// registered through this node; a Directory's bindings do not count.
func (r *Registrar) Registered(user string) bool { return len(r.Contacts(user)) > 0 }

// update applies one REGISTER's contacts. expires==0 removes a contact;
// a wildcard removes all. It returns the resulting live bindings.
func (r *Registrar) update(user string, req *sipmsg.Request, source string) ([]Binding, int) {
	defExpires := 3600
	if h := req.GetHeader("Expires"); h != nil {
		defExpires = parseExpires(h.Value(), 3600)
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	var cseq uint32
	if h := req.CSeq(); h != nil {
		cseq = h.SeqNo
	}
	now := r.now()
	r.mu.Lock()
	current := r.bindings[user]
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sipmsg.ContactHeader)
		if !ok {
			continue
		}
		if c.Address.Wildcard {
			if defExpires == 0 {
				current = nil
			}
			continue
		}
		exp := defExpires
		if v, ok := c.Params.Get("expires"); ok {
			exp = parseExpires(v, defExpires)
		}
		if exp > 0 && exp < r.minExpires {
			exp = r.minExpires
		}
		if exp > r.maxExpires {
			exp = r.maxExpires
		}
		key := contactKey(c.Address)
		kept := current[:0:0]
		for _, b := range current {
			if contactKey(b.Contact) != key {
				kept = append(kept, b)
			}
		}
		current = kept
		if exp > 0 {
			current = append(current, Binding{
				Contact: *c.Address.Clone(), Expires: now.Add(time.Duration(exp) * time.Second),
				Node: r.node, Source: source, Transport: req.Transport(), CallID: callID, CSeq: cseq,
			})
		}
	}
	// Drop expired and, past the limit, the oldest: a phone re-registering
	// from a new port must not lock its user out.
	live := current[:0:0]
	for _, b := range current {
		if b.Expires.After(now) {
			live = append(live, b)
		}
	}
	if len(live) > r.maxContacts {
		live = live[len(live)-r.maxContacts:]
	}
	if len(live) == 0 {
		delete(r.bindings, user)
	} else {
		r.bindings[user] = live
	}
	r.version++
	out := append([]Binding(nil), live...)
	r.mu.Unlock()
	return out, defExpires
}

func contactKey(u sipmsg.Uri) string {
	return strings.ToLower(u.User + "@" + u.HostPort())
}

// lockPublish holds user's publish lock until the returned func is called.
func (r *Registrar) lockPublish(user string) func() { return r.publishing.lock(user) }
