package campaign

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// benchRunner builds a running campaign of n contacts over three regions,
// one of them outside its window, without files.
func benchRunner(b *testing.B, n int, eng Engine) *Runner {
	b.Helper()
	spec := `name: bench
mode: progressive
queue: general
list: x.csv
timezone: Asia/Shanghai
windows:
  default: {daily: "09:00-21:00"}
  south: {daily: "09:00-21:00"}
  west: {daily: "22:00-23:00"}
retry:
  no_answer: {attempts: 100, after: 0s}
max_attempts: 100
`
	s, err := ParseSpec("bench.yaml", []byte(spec), "")
	if err != nil {
		b.Fatal(err)
	}
	regions := []string{"north", "south", "west"}
	list := &List{}
	for i := 0; i < n; i++ {
		list.Contacts = append(list.Contacts, Contact{ID: fmt.Sprintf("c%d", i), Number: fmt.Sprintf("139%08d", i), Region: regions[i%3], Tier: "normal"})
	}
	m, err := NewManager(ManagerConfig{Engine: eng, Now: func() time.Time { return monday10 }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	r := newRunner(m, s, list, NewDNCList(m.plan), Saved{})
	r.state = CampaignRunning
	return r
}

// BenchmarkPickNext100k: the next contact to dial from a 100,000-contact
// list (fewest attempts first, list order, open windows only), put back
// with one more attempt so the heaps keep their size.
func BenchmarkPickNext100k(b *testing.B) {
	r := benchRunner(b, 100000, nopEngine{})
	open := r.windowsOpen(monday10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := r.pick(open, nil)
		if e == nil || e.Region == "west" {
			b.Fatal("nothing to pick, or a closed region")
		}
		e.p.Attempts++
		e.gen++
		heap.Push(&r.ready[e.win], readyItem{e, e.gen})
	}
}

type nopEngine struct{ free []string }

func (n nopEngine) FreeAgents([]string) []string { return n.free }
func (n nopEngine) SignedIn([]string) []string   { return n.free }
func (n nopEngine) Dial(_ context.Context, a Attempt) Result {
	return Result{Outcome: NoAnswer, AgentID: a.AgentID}
}
func (nopEngine) Preview(string, PreviewOffer) error { return nil }
func (nopEngine) Withdraw(string, string, string)    {}

// BenchmarkDialStep100k: one dialler turn on a 100,000-contact list with
// 50 free agents: 50 contacts picked, saved (memory store), dialled on
// goroutines and their results (no answer, due again at once) filed.
func BenchmarkDialStep100k(b *testing.B) {
	free := make([]string, 50)
	for i := range free {
		free[i] = fmt.Sprintf("a%d", i)
	}
	r := benchRunner(b, 100000, nopEngine{free: free})
	r.ctx = context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.step()
		r.wg.Wait()
	}
}
