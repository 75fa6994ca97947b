package sip

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Directory shares registrations between engine nodes, so that any node can
// ring a phone whichever node it registered through.
type Directory interface {
	// Publish records user's live bindings as accepted by this node (empty
	// means none left). The server calls it after every accepted REGISTER,
	// including unregisters, outside the registrar lock and bounded by
	// DirectoryTimeout; an error is logged and the REGISTER still succeeds
	// locally. Registrations that simply expire are not published: Lookup
	// callers filter expired bindings.
	Publish(ctx context.Context, user string, bindings []Binding) error
	// Lookup returns user's bindings published by any node. It may include
	// expired ones.
	Lookup(ctx context.Context, user string) ([]Binding, error)
}

// DirectoryTimeout bounds one Publish or Lookup made by the server: a slow
// shared store must not hold a phone's REGISTER or an agent's ringing for
// long.
const DirectoryTimeout = time.Second

// bindingJSON is Binding's stored form; the contact travels as its URI text
// because sipmsg.Uri has unexported state and no JSON form of its own.
type bindingJSON struct {
	Contact   string    `json:"contact"`
	Expires   time.Time `json:"expires"`
	Node      string    `json:"node,omitempty"`
	Source    string    `json:"source,omitempty"`
	Transport string    `json:"transport,omitempty"`
	CallID    string    `json:"call_id,omitempty"`
	CSeq      uint32    `json:"cseq,omitempty"`
}

// MarshalJSON gives Binding a stable text form for shared stores.
func (b Binding) MarshalJSON() ([]byte, error) {
	return json.Marshal(bindingJSON{
		Contact: b.Contact.String(), Expires: b.Expires.UTC(), Node: b.Node, Source: b.Source,
		Transport: b.Transport, CallID: b.CallID, CSeq: b.CSeq,
	})
}

// UnmarshalJSON reads what MarshalJSON wrote. A binding without a usable
// SIP contact or expiry is an error: it could only be rung by guessing.
func (b *Binding) UnmarshalJSON(data []byte) error {
	var j bindingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("sip: binding: %w", err)
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(j.Contact, &u); err != nil {
		return fmt.Errorf("sip: binding contact %q: %w", j.Contact, err)
	}
	if (u.Scheme != "sip" && u.Scheme != "sips") || u.Host == "" || u.Wildcard {
		return fmt.Errorf("sip: binding contact %q: not a SIP address", j.Contact)
	}
	if j.Expires.IsZero() {
		return fmt.Errorf("sip: binding contact %q: no expiry", j.Contact)
	}
	*b = Binding{
		Contact: u, Expires: j.Expires, Node: j.Node, Source: j.Source,
		Transport: j.Transport, CallID: j.CallID, CSeq: j.CSeq,
	}
	return nil
}

// publish shares user's current local bindings. Publishes of one user are
// serialised and each re-reads the registrar, so two REGISTERs racing each
// other cannot leave the older state in the directory.
func (s *Server) publish(user string) {
	dir := s.cfg.Directory
	if dir == nil {
		return
	}
	unlock := s.reg.lockPublish(user)
	defer unlock()
	parent := s.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, DirectoryTimeout)
	defer cancel()
	bindings := s.reg.Contacts(user)
	if err := dir.Publish(ctx, user, bindings); err != nil {
		s.log.Warn("sip: registration not shared with other nodes", "user", user, "contacts", len(bindings), "err", err)
	}
}

// userTargets is whom Dial rings for a user: the contacts registered here,
// or else the live ones another node published.
func (s *Server) userTargets(ctx context.Context, user string) ([]sipmsg.Uri, error) {
	bindings := s.reg.Contacts(user)
	if len(bindings) == 0 && s.cfg.Directory != nil {
		lctx, cancel := context.WithTimeout(ctx, DirectoryTimeout)
		shared, err := s.cfg.Directory.Lookup(lctx, user)
		cancel()
		if err != nil {
			s.log.Warn("sip: registration directory lookup failed", "user", user, "err", err)
			return nil, fmt.Errorf("%w: directory: %w", ErrNotRegistered, err)
		}
		bindings = liveBindings(shared, time.Now())
	}
	if len(bindings) == 0 {
		return nil, ErrNotRegistered
	}
	targets := make([]sipmsg.Uri, len(bindings))
	for i, b := range bindings {
		targets[i] = b.Contact
	}
	return targets, nil
}

// liveBindings drops expired bindings and keeps one per contact (the latest
// to expire: a phone that moved nodes without unregistering is published by
// both, and must ring once), newest first.
func liveBindings(bs []Binding, now time.Time) []Binding {
	byKey := map[string]Binding{}
	for _, b := range bs {
		if !b.Expires.After(now) || b.Contact.Host == "" {
			continue
		}
		k := contactKey(b.Contact)
		if old, ok := byKey[k]; !ok || b.Expires.After(old.Expires) {
			byKey[k] = b
		}
	}
	out := make([]Binding, 0, len(byKey))
	for _, b := range byKey {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.After(out[j].Expires) })
	return out
}

// userLocks is a mutex per user, kept only while someone holds or waits
// for it.
type userLocks struct {
	mu sync.Mutex
	m  map[string]*userLock
}

type userLock struct {
	mu   sync.Mutex
	refs int
}

func (l *userLocks) lock(user string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*userLock{}
	}
	ul := l.m[user]
	if ul == nil {
		ul = &userLock{}
		l.m[user] = ul
	}
	ul.refs++
	l.mu.Unlock()
	ul.mu.Lock()
	return func() {
		ul.mu.Unlock()
		l.mu.Lock()
		if ul.refs--; ul.refs == 0 {
			delete(l.m, user)
		}
		l.mu.Unlock()
	}
}

// Republish shares every local registration again, e.g. after the shared
// directory lost its data (a Redis restart) or this node was cut off from
// it: phones re-register only when their registration nears its expiry.
func (s *Server) Republish() {
	for _, user := range s.reg.Users() {
		s.publish(user)
	}
}
