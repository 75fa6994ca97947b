package agentapi

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// Accounts, queues and break reasons change with a configuration reload.
// An account whose password, role or supervision scope changed, or that
// was removed, loses its sessions (its desktops get session.ended and the
// sign-in form); any other change (name, skills, region) keeps them: the
// ACD takes the new skills itself.

// reloadable is what SetAccounts and SetLists change, guarded by its own
// lock (read on every login, scope check and statistics push).
type reloadable struct {
	mu       sync.RWMutex
	accounts map[string]*account // nil: the accounts New built (Server.accounts)
	queues   []string
	breaks   []string
	set      bool
	desk     *DeskSettings // nil: Config's
}

// DeskSettings are the desktop extras a reload changes (desk.go): wrap-up
// codes per queue, break limits, the customer card's attributes and the
// agents' desktop languages.
type DeskSettings struct {
	QueueCodes         map[string][]string
	BreakLimits        map[string]time.Duration
	CustomerAttributes []string
	Languages          map[string]string
}

// SetDesk replaces the desktop extras; desktops get them at their next
// login or resume, and wrap-up codes are checked against them at once.
func (s *Server) SetDesk(d DeskSettings) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	s.live.desk = &d
}

// deskSettings is the desktop extras in force.
func (s *Server) deskSettings() DeskSettings {
	s.live.mu.RLock()
	defer s.live.mu.RUnlock()
	if s.live.desk != nil {
		return *s.live.desk
	}
	return DeskSettings{QueueCodes: s.cfg.QueueCodes, BreakLimits: s.cfg.BreakLimits,
		CustomerAttributes: s.cfg.CustomerAttributes, Languages: s.cfg.Languages}
}

// account is the configured account with this id (nil if none).
func (s *Server) account(id string) *account {
	s.live.mu.RLock()
	defer s.live.mu.RUnlock()
	if s.live.accounts != nil {
		return s.live.accounts[id]
	}
	return s.accounts[id]
}

// queueNames and breakReasons are the configured lists for statistics and
// the desktop's reason menu.
func (s *Server) queueNames() []string {
	s.live.mu.RLock()
	defer s.live.mu.RUnlock()
	if s.live.set {
		return s.live.queues
	}
	return s.cfg.Queues
}

func (s *Server) breakReasons() []string {
	s.live.mu.RLock()
	defer s.live.mu.RUnlock()
	if s.live.set {
		return s.live.breaks
	}
	return s.cfg.BreakReasons
}

// SetLists replaces the queues shown in statistics and the break reasons
// the desktop offers.
func (s *Server) SetLists(queues, breakReasons []string) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	s.live.queues, s.live.breaks, s.live.set = slices.Clone(queues), slices.Clone(breakReasons), true
}

// SetAccounts replaces the configured accounts; on error nothing changed.
// It returns the ids whose sessions were ended.
func (s *Server) SetAccounts(list []Account) ([]string, error) {
	next := map[string]*account{}
	for _, a := range list {
		old := s.account(a.ID)
		if old != nil && a.PasswordHash == "" && a.Password != "" && checkPassword(old.hash, a.Password) {
			// Same password: keep its hash (no rehash per reload).
			a.PasswordHash, a.Password = old.hash, ""
		}
		acc, err := newAccount(a, s.cfg.PasswordCost)
		if err != nil {
			return nil, fmt.Errorf("agentapi: %w", err)
		}
		if next[acc.ID] != nil {
			return nil, fmt.Errorf("agentapi: duplicate account %q", acc.ID)
		}
		next[acc.ID] = acc
	}
	s.live.mu.Lock()
	prev := s.live.accounts
	if prev == nil {
		prev = s.accounts
	}
	s.live.accounts = next
	s.live.mu.Unlock()

	var ended []string
	for id, old := range prev {
		nu := next[id]
		if nu != nil && nu.hash == old.hash && nu.Role == old.Role && slices.Equal(nu.Supervises, old.Supervises) {
			continue
		}
		ended = append(ended, id)
		s.endSessionsOf(id, "account changed or removed by the configuration")
	}
	slices.Sort(ended)
	return ended, nil
}

// endSessionsOf closes every session of an account and tells its
// connections.
func (s *Server) endSessionsOf(id, why string) {
	s.sessions.mu.Lock()
	var gone []*session
	for _, sess := range s.sessions.byToken {
		if sess.acct.ID == id {
			gone = append(gone, sess)
		}
	}
	for _, sess := range gone {
		s.sessions.removeLocked(sess)
	}
	s.sessions.mu.Unlock()
	s.mu.RLock()
	var conns []*client
	for c := range s.clients {
		if a := c.account(); a != nil && a.ID == id {
			conns = append(conns, c)
		}
	}
	s.mu.RUnlock()
	for _, c := range conns {
		c.kick("account_changed", why)
	}
}

// LevelView is a service level for the wallboard: no sample in the
// window is "no data", never 100 %.
func LevelView(sl routing.ServiceLevel) ServiceLevelView {
	v := ServiceLevelView{Tier: sl.Tier, Queue: sl.Queue, Target: sl.Target, ThresholdS: sl.Threshold.Seconds(),
		Answered: sl.Answered, AnsweredWithin: sl.AnsweredWithin, Abandoned: sl.Abandoned, OverdueWaiting: sl.OverdueWaiting}
	if !acd.HasSample(sl) {
		v.NoData = true
		return v
	}
	actual := sl.Actual
	v.Actual, v.Met = &actual, actual >= sl.Target
	return v
}
