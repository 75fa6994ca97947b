package campaign

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func fileStore(t *testing.T, dir string) *FileStore {
	t.Helper()
	st, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A restart (the state directory as a crash left it) keeps finished
// contacts finished, attempts counted, retry times and the campaign's
// state; the call that was up counts as failed and is retried by the
// rules, not at once.
func TestRestartResumesFromFileStore(t *testing.T) {
	specDir := writeFiles(t, map[string]string{"list.csv": contactsCSV(6, "north")})
	stateDir := t.TempDir()
	h := newHarness(t, progressiveSpec, nil, []string{"1001", "1002"}, harnessOpts{dir: specDir, store: fileStore(t, stateDir)})
	g := newGate()
	h.eng.result = g.result
	h.r.step()
	g.wait(t, 2)
	g.end(t, "out-c-c1-1", Result{Outcome: Completed, AgentID: "1001", Answers: map[string]string{"renew": "yes"}})
	g.end(t, "out-c-c2-1", Result{Outcome: NoAnswer, Cause: "480"})
	waitFor(t, func() bool { return h.contact("c1").State == Done && h.contact("c2").State == RetryWait })
	h.r.step()
	g.wait(t, 2)
	g.end(t, "out-c-c4-1", Result{Outcome: Busy, Cause: "486"})
	waitFor(t, func() bool { return h.contact("c4").State == RetryWait })
	before := h.progress()
	c2NextAt := h.contact("c2").NextAt

	// The crash: c3's call is still up.
	crashed := copyDir(t, stateDir)
	h2 := newHarness(t, progressiveSpec, nil, []string{"1001", "1002"}, harnessOpts{dir: specDir, store: fileStore(t, crashed)})
	p := h2.progress()
	if p.State != CampaignRunning || p.Attempts != 4 || p.Dialled != 4 || p.Finished != 1 || p.Reached != 1 || p.Waiting != 3 {
		t.Errorf("after restart %+v\nbefore %+v", p, before)
	}
	if c := h2.contact("c1"); c.State != Done || c.Attempts != 1 || c.History[0].Answers["renew"] != "yes" {
		t.Errorf("c1 %+v", c)
	}
	if c := h2.contact("c2"); c.State != RetryWait || !c.NextAt.Equal(c2NextAt) || c.Attempts != 1 {
		t.Errorf("c2 %+v", c)
	}
	c3 := h2.contact("c3")
	if c3.State != RetryWait || c3.Attempts != 1 || c3.LastOutcome != Failed || c3.LastCause != "interrupted by a restart" ||
		!c3.NextAt.Equal(h2.clock.Now().Add(time.Hour)) || c3.History[0].CallID != "out-c-c3-1" {
		t.Errorf("c3 %+v", c3)
	}
	h2.step()
	if got := sortedIDs(h2.eng.takeDials()); got != "c5@1001 c6@1002" {
		t.Errorf("after restart dialled %s", got)
	}
	h2.clock.Advance(15 * time.Minute)
	h2.step()
	if got := sortedIDs(h2.eng.takeDials()); got != "c4@1001" {
		t.Errorf("busy retry after 15 min: %s", got)
	}
	h2.clock.Advance(2 * time.Hour)
	h2.step()
	h2.step()
	for _, d := range h2.eng.takeDials() {
		if d.Contact.ID == "c1" {
			t.Error("a finished contact was dialled again")
		}
		if d.Contact.ID == "c3" && (d.Attempt != 2 || d.ID != "out-c-c3-2") {
			t.Errorf("c3 retried as %+v", d)
		}
	}
	if p := h2.progress(); p.State != CampaignCompleted {
		t.Errorf("final %+v", p)
	}
	// The old process's call ends (its state directory is not used
	// any more).
	g.end(t, "out-c-c3-1", Result{Outcome: Completed})
	h.r.wg.Wait()
}

// A preview on a desktop when the process died is simply pending again;
// a supervisor's pause survives the restart; run-time DNC numbers too.
func TestRestartPreviewPauseAndDNC(t *testing.T) {
	specDir := writeFiles(t, map[string]string{"list.csv": contactsCSV(4, "north")})
	stateDir := t.TempDir()
	h := newHarness(t, previewSpec, nil, []string{"1001"}, harnessOpts{dir: specDir, store: fileStore(t, stateDir)})
	h.step()
	if err := h.m.AddDNC("13800000004"); err != nil {
		t.Fatal(err)
	}
	h.m.Pause("p")
	h2 := newHarness(t, previewSpec, nil, []string{"1001"}, harnessOpts{dir: specDir, store: fileStore(t, copyDir(t, stateDir)), stopped: true})
	if c := h2.contact("c1"); c.State != Pending || c.Attempts != 0 || c.Agent != "" {
		t.Errorf("c1 %+v", c)
	}
	p := h2.progress()
	if p.State != CampaignPaused || p.DNC != 1 || p.Previewing != 0 {
		t.Errorf("%+v", p)
	}
	if !h2.r.dncHas("13800000004") {
		t.Error("run-time DNC number lost")
	}
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	st := fileStore(t, dir)
	ctx := context.Background()
	if sv, err := st.Load(ctx, "x"); err != nil || len(sv.Contacts) != 0 || sv.State != "" {
		t.Fatalf("empty load %+v %v", sv, err)
	}
	if _, err := st.Load(ctx, "../x"); err == nil {
		t.Error("bad name accepted")
	}
	// Versions: the highest wins whatever the order.
	st.Save(ctx, "x", Batch{State: CampaignRunning, StateVersion: 2, Contacts: []ContactProgress{{ID: "a", Version: 5, State: Done}}})
	st.Save(ctx, "x", Batch{State: CampaignStopped, StateVersion: 1, DNC: []string{"13800000001"}, Contacts: []ContactProgress{{ID: "a", Version: 4, State: Dialling}, {ID: "b", Version: 6, State: RetryWait}}})
	// A crash in the middle of a journal line.
	f, _ := os.OpenFile(filepath.Join(dir, "x.journal"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"contacts":[{"id":"a","v":9,"sta`)
	f.Close()
	sv, err := fileStore(t, dir).Load(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if sv.State != CampaignRunning || sv.Contacts["a"].State != Done || sv.Contacts["b"].State != RetryWait || len(sv.DNC) != 1 {
		t.Errorf("reloaded %+v", sv)
	}
	// The reload folded the journal into the snapshot.
	if j, _ := os.ReadFile(filepath.Join(dir, "x.journal")); len(j) != 0 {
		t.Errorf("journal after load: %q", j)
	}
	// Many changes fold into a snapshot on the way.
	st = fileStore(t, dir)
	for i := 0; i < 2500; i++ {
		if err := st.Save(ctx, "x", Batch{Contacts: []ContactProgress{{ID: "b", Version: uint64(10 + i), State: RetryWait, Attempts: i}}}); err != nil {
			t.Fatal(err)
		}
	}
	if j, _ := os.ReadFile(filepath.Join(dir, "x.journal")); strings.Count(string(j), "\n") >= 1000 {
		t.Errorf("journal not folded: %d lines", strings.Count(string(j), "\n"))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	sv, _ = fileStore(t, dir).Load(ctx, "x")
	if sv.Contacts["b"].Attempts != 2499 {
		t.Errorf("after compaction %+v", sv.Contacts["b"])
	}
	// A snapshot that is not ours fails loudly rather than resetting
	// progress.
	os.WriteFile(filepath.Join(dir, "y.json"), []byte(`{"contacts":{"a":{"id":"a","state":"flying"}}}`), 0o644)
	if _, err := fileStore(t, dir).Load(ctx, "y"); err == nil || !strings.Contains(err.Error(), `unknown state "flying"`) {
		t.Errorf("bad snapshot: %v", err)
	}
}
