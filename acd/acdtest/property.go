package acdtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// randomPhone answers, refuses, times out or answers a little later, at
// random, and records invariant violations through fakePhone.
type randomPhone struct {
	*fakePhone
	mu  sync.Mutex
	rng *rand.Rand
}

func (p *randomPhone) Ring(ctx context.Context, o acd.Offer) error {
	p.mu.Lock()
	n := p.rng.IntN(10)
	p.mu.Unlock()
	b := phoneAnswer
	switch {
	case n < 1:
		b = phoneNoAnswer
	case n < 2:
		b = phoneBusy
	case n < 3:
		b = phoneHold // runs into the ring timeout or an abandon
	}
	p.set(o.AgentID, b) // phoneHold: nobody answers
	return p.fakePhone.Ring(ctx, o)
}

// TestPropertyRandomInterleavings: concurrent random arrivals, abandons,
// logins, logouts, state changes, hang-ups and ticks. No call is lost
// (every caller gets exactly one outcome), no call rings two agents at once,
// no agent rings for or holds two calls.
func (su suite) testPropertyRandomInterleavings(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { su.propertyRun(t, seed) })
	}
}

func (su suite) propertyRun(t *testing.T, seed uint64) {
	fp := newFakePhone()
	// Held rings report on fp.ringing; nobody answers them here.
	stopDrain := make(chan struct{})
	defer close(stopDrain)
	go func() {
		for {
			select {
			case <-fp.ringing:
			case <-stopDrain:
				return
			}
		}
	}()
	phone := &randomPhone{fakePhone: fp, rng: rand.New(rand.NewPCG(seed, 7))}
	clock := &fakeClock{now: t0}
	a, err := acd.New(acd.Config{
		Routing: demoRouting(), RingTimeout: 2 * time.Millisecond, WrapUp: 2 * time.Second,
		Queues: map[string]acd.QueueSettings{"general": {MaxWait: 90 * time.Second, MaxSize: 30}},
		Now:    clock.Now,
	}, acd.Deps{Phone: phone, Store: su.newStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	agents := []string{"a1", "a2", "a3", "a4", "a5", "a6"}
	queues := []string{"general", "billing", "technical"}
	tiers := []string{"diamond", "gold", "silver", "normal"}

	for i, id := range agents {
		if err := a.Login(acd.AgentProfile{ID: id, Skills: map[string]int{queues[i%3]: 1, queues[(i+1)%3]: 2}}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu        sync.Mutex
		cancels   = map[string]context.CancelFunc{}
		connected []string
		outcomes  = map[string][]acd.Outcome{}
		enqueued  int
		waiters   sync.WaitGroup
	)
	const workers, steps = 4, 600
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)+100))
			for i := 0; i < steps; i++ {
				ag := agents[rng.IntN(len(agents))]
				switch op := rng.IntN(18); op {
				case 0, 1, 2, 3:
					ctx, cancel := context.WithCancel(context.Background())
					id := fmt.Sprintf("w%d-%d", w, i)
					tk, err := a.Enqueue(ctx, acd.Call{ID: id, Queue: queues[rng.IntN(3)], Tier: tiers[rng.IntN(4)], Region: []string{"", "north", "south"}[rng.IntN(3)]})
					if err != nil {
						t.Errorf("enqueue: %v", err)
						cancel()
						continue
					}
					mu.Lock()
					enqueued++
					cancels[id] = cancel
					mu.Unlock()
					waiters.Add(1)
					go func() {
						defer waiters.Done()
						o := <-tk.Done()
						mu.Lock()
						outcomes[id] = append(outcomes[id], o)
						if o.Kind == acd.Connected {
							connected = append(connected, id)
						}
						mu.Unlock()
						select {
						case o2 := <-tk.Done():
							mu.Lock()
							outcomes[id] = append(outcomes[id], o2)
							mu.Unlock()
						default:
						}
					}()
				case 4:
					mu.Lock()
					for id, c := range cancels {
						c()
						delete(cancels, id)
						break
					}
					mu.Unlock()
				case 5:
					_ = a.Login(acd.AgentProfile{ID: ag, Skills: map[string]int{queues[rng.IntN(3)]: 1, queues[rng.IntN(3)]: 2},
						Region: []string{"", "north", "south"}[rng.IntN(3)], Mode: []acd.AnswerMode{acd.AutoMode, acd.ManualMode}[rng.IntN(2)]})
				case 6:
					if rng.IntN(3) == 0 {
						_ = a.Logout(ag)
					}
				case 7, 14, 15, 16:
					_ = a.SetReady(ag)
				case 8:
					_ = a.SetNotReady(ag, "busy")
				case 9:
					_ = a.RequestCall(ag)
				case 10, 17:
					mu.Lock()
					if len(connected) > 0 {
						k := rng.IntN(len(connected))
						id := connected[k]
						connected = append(connected[:k], connected[k+1:]...)
						mu.Unlock()
						if rng.IntN(3) == 0 {
							_ = a.Hold(ag)
						}
						if err := a.CallEnded(id, "caller"); err != nil {
							t.Errorf("CallEnded %s: %v", id, err)
						}
					} else {
						mu.Unlock()
					}
				case 11:
					clock.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
					a.Tick()
				case 12:
					_ = a.StartBreak(ag, "lunch")
				case 13:
					for _, v := range a.CheckInvariants() {
						t.Errorf("invariant: %s", v)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	for _, v := range a.CheckInvariants() {
		t.Errorf("invariant after run: %s", v)
	}
	// Wind down like the engine would: callers hang up, connected calls end.
	mu.Lock()
	for id, c := range cancels {
		c()
		delete(cancels, id)
	}
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		conn := connected
		connected = nil
		mu.Unlock()
		for _, id := range conn {
			_ = a.CallEnded(id, "caller")
		}
		if len(a.Calls()) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waiters.Wait()
	for _, v := range fp.violationsCopy() {
		t.Errorf("phone: %s", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(outcomes) != enqueued {
		t.Errorf("%d callers enqueued, %d got an outcome", enqueued, len(outcomes))
	}
	kinds := map[acd.OutcomeKind]int{}
	for id, os := range outcomes {
		if len(os) != 1 {
			t.Errorf("call %s got %d outcomes: %+v", id, len(os), os)
		}
		kinds[os[0].Kind]++
		if os[0].Kind == acd.Overflowed {
			kinds[acd.OutcomeKind(os[0].Reason)]++
		}
	}
	if n := len(a.Calls()); n != 0 {
		t.Errorf("%d calls left in the ACD after wind-down", n)
	}
	t.Logf("enqueued %d: %v, rings %d", enqueued, kinds, len(fp.historyCopy()))
}
