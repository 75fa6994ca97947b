package ivr

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeFlow(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	flowA  = "name: a\nnodes:\n  bye: {type: hangup, reason: a1}\n"
	flowA2 = "name: a\nnodes:\n  bye: {type: hangup, reason: a2}\n"
	flowB  = "name: b\nnodes:\n  go: {type: transfer, flow: a}\n"
)

func TestRegistryLoadAndBind(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "a.yaml", flowA)
	writeFlow(t, dir, "b.yml", flowB)
	writeFlow(t, dir, "notes.txt", "not a flow")
	reg := NewRegistry(LoadOptions{})
	if err := reg.LoadDir(dir, map[string]string{"10010": "a", "10012": "b"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.Names(), ","); got != "a,b" {
		t.Errorf("names %q", got)
	}
	if f, ok := reg.FlowForNumber("10012"); !ok || f.Name != "b" {
		t.Errorf("10012 → %v %v", f, ok)
	}
	if _, ok := reg.FlowForNumber("999"); ok {
		t.Error("unbound number found a flow")
	}
	if reg.Version() != 1 {
		t.Errorf("version %d", reg.Version())
	}
}

func TestRegistryReload(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "a.yaml", flowA)
	reg := NewRegistry(LoadOptions{})
	if err := reg.LoadDir(dir, map[string]string{"10010": "a"}); err != nil {
		t.Fatal(err)
	}
	inCall, _ := reg.Flow("a") // a call in progress holds this version

	// A broken reload keeps the old version and says why.
	writeFlow(t, dir, "a.yaml", "name: a\nnodes:\n  bye: {type: hangup, reasn: x}\n")
	err := reg.Reload()
	var list ErrorList
	if !errors.As(err, &list) || !strings.Contains(err.Error(), filepath.Join(dir, "a.yaml")+":3: node \"bye\": unknown field \"reasn\"") {
		t.Fatalf("reload error %v", err)
	}
	if f, _ := reg.Flow("a"); f != inCall || reg.Version() != 1 {
		t.Fatal("a failed reload replaced the flow")
	}

	// A good reload swaps; the call in progress keeps its version.
	writeFlow(t, dir, "a.yaml", flowA2)
	if err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	now, _ := reg.FlowForNumber("10010")
	if now == inCall || now.Nodes["bye"].Reason != "a2" || inCall.Nodes["bye"].Reason != "a1" || reg.Version() != 2 {
		t.Fatalf("after reload: new %q, in call %q", now.Nodes["bye"].Reason, inCall.Nodes["bye"].Reason)
	}
}

func TestRegistryCrossFlowErrors(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		numbers map[string]string
		want    string
	}{
		{"transfer to unknown flow", map[string]string{"b.yaml": flowB}, nil, `b.yaml:3: node "go": transfer to unknown flow "a"`},
		{"duplicate flow name", map[string]string{"a.yaml": flowA, "a2.yaml": flowA2}, nil, `flow name "a" is also used by`},
		{"number bound to unknown flow", map[string]string{"a.yaml": flowA}, map[string]string{"10010": "main"}, `access number 10010 is bound to unknown flow "main"`},
		{"errors from every file", map[string]string{"x.yaml": "nodes: 3\n", "y.yaml": "nodes:\n  a: {type: nope}\n"}, nil, `y.yaml:2: node "a": unknown node type "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range tc.files {
				writeFlow(t, dir, name, src)
			}
			err := NewRegistry(LoadOptions{}).LoadDir(dir, tc.numbers)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRegistryReadsDuringReload(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "a.yaml", flowA)
	reg := NewRegistry(LoadOptions{})
	if err := reg.LoadDir(dir, map[string]string{"10010": "a"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if f, ok := reg.FlowForNumber("10010"); !ok || f.Nodes["bye"] == nil {
					t.Error("reader saw no flow during reload")
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if err := reg.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestAdminHandler(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "a.yaml", flowA)
	reg := NewRegistry(LoadOptions{})
	if err := reg.LoadDir(dir, nil); err != nil {
		t.Fatal(err)
	}
	h := reg.AdminHandler()
	do := func(method string) (int, ReloadStatus) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/admin/flows", nil))
		var st ReloadStatus
		if rec.Code != http.StatusMethodNotAllowed {
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatalf("%s: %v: %s", method, err, rec.Body)
			}
		}
		return rec.Code, st
	}
	if code, st := do(http.MethodGet); code != 200 || st.Version != 1 || len(st.Flows) != 1 {
		t.Fatalf("GET %d %+v", code, st)
	}
	writeFlow(t, dir, "a.yaml", "nodes:\n  x: {type: bogus}\n")
	if code, st := do(http.MethodPost); code != http.StatusUnprocessableEntity || st.Version != 1 || len(st.Errors) == 0 || !strings.Contains(st.Errors[0], `unknown node type "bogus"`) {
		t.Fatalf("broken POST %d %+v", code, st)
	}
	writeFlow(t, dir, "a.yaml", flowA2)
	if code, st := do(http.MethodPost); code != 200 || st.Version != 2 || len(st.Errors) != 0 {
		t.Fatalf("good POST %d %+v", code, st)
	}
	if code, _ := do(http.MethodDelete); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE %d", code)
	}
}
