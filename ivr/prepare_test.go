package ivr

import "testing"

// Prepare checks a new flow set and binding without changing what is in
// service; Commit swaps it in, and a flow taken before keeps its version.
func TestPrepareThenCommit(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "a.yaml", flowA)
	reg := NewRegistry(LoadOptions{})
	if err := reg.LoadDir(dir, map[string]string{"10010": "a"}); err != nil {
		t.Fatal(err)
	}
	held, _ := reg.FlowForNumber("10010")

	next := t.TempDir()
	writeFlow(t, next, "a.yaml", flowA2)
	writeFlow(t, next, "b.yaml", flowB)
	if _, err := reg.Prepare(next, map[string]string{"10010": "a", "10099": "nosuch"}, nil); err == nil {
		t.Fatal("a binding to an unknown flow prepared")
	}
	p, err := reg.Prepare(next, map[string]string{"10010": "a", "10012": "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.FlowForNumber("10012"); ok || reg.Version() != 1 {
		t.Fatal("Prepare changed the flows in service")
	}
	reg.Commit(p)
	if f, ok := reg.FlowForNumber("10012"); !ok || f.Name != "b" || reg.Version() != 2 {
		t.Fatalf("after commit: %v %v version %d", f, ok, reg.Version())
	}
	if f, _ := reg.FlowForNumber("10010"); f == held || held.Nodes["bye"].Reason != "a1" {
		t.Fatal("the held flow changed, or the new one is not in service")
	}
	if err := reg.Reload(); err != nil { // reloads the committed directory
		t.Fatal(err)
	}
	if _, ok := reg.FlowForNumber("10012"); !ok {
		t.Fatal("reload after commit lost the new binding")
	}
}
