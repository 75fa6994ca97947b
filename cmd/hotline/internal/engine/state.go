package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/sip"
)

// What survives a restart lives in the state directory (state_dir, default
// <records>/state), each file written atomically:
//
//	registrations.json  the phones' bindings: a restarted engine rings
//	                    them at once, no re-REGISTER needed
//	agents.json         who was signed in, and in which state (ready, not
//	                    ready with its reason, break…): an agent on lunch
//	                    stays on lunch
//	session.key         the key that signs desktop session tokens
//	                    (unless http.session_key / HOTLINE_SESSION_KEY)
//	sessions.json       revoked session tokens (logouts, replaced logins)
//
// In cluster mode the node also takes back the registrations it published
// to Redis. Calls do not survive: their media lived in the process (drain
// before an upgrade).

// stateEvery is how often changed registrations and agent states are
// written (a crash loses at most this much; a clean stop loses nothing).
const stateEvery = time.Second

func (e *Engine) stateDir() string {
	if d := e.cfg.StateDir; d != "" {
		return e.cfg.Resolve(d)
	}
	return filepath.Join(e.records.dir, "state")
}

// sessionKey is the desktop token key: configured, or kept in the state
// directory (made on first start).
func (e *Engine) sessionKey() ([]byte, error) {
	if k := e.cfg.HTTP.SessionKey; k != "" {
		return []byte(k), nil
	}
	path := filepath.Join(e.stateDir(), "session.key")
	b, err := os.ReadFile(path)
	if err == nil {
		if k, derr := hex.DecodeString(strings.TrimSpace(string(b))); derr == nil && len(k) >= 16 {
			return k, nil
		}
		return nil, fmt.Errorf("engine: %s: not a hex key of at least 16 bytes", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("engine: session key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("engine: session key: %w", err)
	}
	if err := sip.WriteFileAtomic(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("engine: session key %s: %w", path, err)
	}
	return k, nil
}

// savedAgent is one signed-in agent in agents.json.
type savedAgent struct {
	ID     string    `json:"id"`
	State  acd.State `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

type agentsFile struct {
	Version int          `json:"version"`
	Saved   time.Time    `json:"saved"`
	Agents  []savedAgent `json:"agents"`
}

// localAgents is the ACD's view of this node's own agents, for saving.
func (e *Engine) localAgents() []savedAgent {
	var out []savedAgent
	for _, a := range e.acd.Agents() {
		if a.Node == "" && a.State != acd.LoggedOut {
			out = append(out, savedAgent{ID: a.Profile.ID, State: a.State, Reason: a.Reason, Since: a.Since})
		}
	}
	return out
}

func (e *Engine) saveAgents(agents []savedAgent) error {
	b, err := json.Marshal(agentsFile{Version: 1, Saved: time.Now().UTC(), Agents: agents})
	if err != nil {
		return err
	}
	return sip.WriteFileAtomic(filepath.Join(e.stateDir(), "agents.json"), b, 0o600)
}

// restoreState brings back what the previous process left: the phones'
// registrations (file, and in cluster mode this node's in Redis) and the
// agents' sign-ins and states. Problems are logged: a start never fails
// for a state file.
func (e *Engine) restoreState() {
	reg := e.sip.Registrar()
	regFile := filepath.Join(e.stateDir(), "registrations.json")
	if saved, err := sip.LoadBindings(regFile); err != nil {
		e.log.Warn("saved registrations unreadable; phones register again at their next refresh", "file", regFile, "err", err)
	} else if n := reg.Restore(saved); n > 0 {
		e.log.Info("phone registrations restored", "bindings", n, "file", regFile)
	}
	if e.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		own, err := e.cluster.regs.Own(ctx)
		cancel()
		if err != nil {
			e.log.Warn("this node's registrations in Redis not restored", "err", err)
		} else if n := reg.Restore(own); n > 0 {
			e.log.Info("phone registrations restored from Redis", "bindings", n)
		}
	}

	path := filepath.Join(e.stateDir(), "agents.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f agentsFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		e.log.Warn("saved agent states unreadable; agents sign in again", "file", path, "err", err)
		return
	}
	p := e.plan.Load()
	var restored, byPhone []string
	for _, s := range f.Agents {
		prof, ok := p.acd.Profiles[s.ID]
		if !ok {
			continue // no longer configured
		}
		if err := e.acd.Login(prof); err != nil {
			e.log.Warn("agent not signed in again", "agent", s.ID, "err", err)
			continue
		}
		if err := e.restoreAgentState(s); err != nil {
			e.log.Warn("agent signed in again, but not in its saved state", "agent", s.ID, "state", s.State, "err", err)
		}
		restored = append(restored, s.ID)
		if reg.Registered(s.ID) {
			byPhone = append(byPhone, s.ID)
		}
	}
	e.pres.Adopt(byPhone)
	if len(restored) > 0 {
		e.log.Info("agents signed in again as they were", "agents", restored)
	}
}

// restoreAgentState puts a signed-in (ready) agent back in its saved
// state. Agents that were on a call or in wrap-up are ready: the calls
// ended with the process.
func (e *Engine) restoreAgentState(s savedAgent) error {
	a := e.acd
	switch s.State {
	case acd.NotReady:
		return a.SetNotReady(s.ID, orDefault(s.Reason, "not ready"))
	case acd.Break:
		if err := a.StartBreak(s.ID, s.Reason); err != nil {
			return errors.Join(err, a.SetNotReady(s.ID, orDefault(s.Reason, "break")))
		}
	case acd.Study:
		return a.StartStudy(s.ID)
	case acd.Adjust:
		if err := a.StartAdjust(s.ID); err != nil {
			return errors.Join(err, a.SetNotReady(s.ID, "adjust"))
		}
	}
	return nil
}

// runState writes the registrations and agent states whenever they change
// until ctx ends (Run's last word is saveState, after the calls are gone).
func (e *Engine) runState(ctx context.Context) {
	regFile := filepath.Join(e.stateDir(), "registrations.json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		sip.PersistBindings(ctx, e.sip.Registrar(), regFile, stateEvery, e.log)
	}()
	t := time.NewTicker(stateEvery)
	defer t.Stop()
	var last []savedAgent
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			now := e.localAgents()
			if reflect.DeepEqual(now, last) {
				continue
			}
			if err := e.saveAgents(now); err != nil {
				e.log.Warn("agent states not saved", "err", err)
				continue
			}
			last = now
		}
	}
}

// saveState writes the agents' states once more at a stop (registrations
// are saved by runState's end).
func (e *Engine) saveState() {
	if err := e.saveAgents(e.localAgents()); err != nil {
		e.log.Warn("agent states not saved at stop", "err", err)
	}
}
