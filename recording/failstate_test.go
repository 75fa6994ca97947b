package recording

import (
	"os"
	"path/filepath"
	"testing"
)

// A recording whose writes failed because the disk is full stays "failed"
// after a restart: the failure is written to the sidecar when it happens
// (the engine may stop before the call ends), and when no new sidecar file
// can be created (the disk is still full) the old one is overwritten in
// place, so the next start's repair never calls it "repaired".
func TestFailedRecordingStaysFailedAfterRestart(t *testing.T) {
	for _, closeIt := range []bool{true, false} {
		name := map[bool]string{true: "closed after the failure", false: "engine stopped before the call ended"}[closeIt]
		t.Run(name, func(t *testing.T) {
			root, clk := t.TempDir(), newFakeClock()
			opts := Options{
				BufferSize: 4096,
				Create: func(p string) (File, error) {
					f, err := createFile(p)
					if err != nil {
						return nil, err
					}
					return &faultyFile{File: f.(*os.File), budget: 40000, failWrite: true}, nil
				},
			}
			rec := openTest(t, root, clk, opts)
			sidecar := filepath.Join(root, filepath.FromSlash(dayDir(clk.Now())), "call-1.json")
			// The disk is full for new files too: the temporary sidecar
			// cannot be created.
			if err := os.Mkdir(sidecar+".tmp", 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 150 && !rec.Failed(); i++ {
				rec.Feed(Caller, toneFrame(callerHz, i*frameSamples))
				rec.Feed(Agent, toneFrame(agentHz, i*frameSamples))
				clk.Advance(frameDur)
				_ = rec.Drain()
			}
			if !rec.Failed() {
				t.Fatal("the recording never failed")
			}
			if closeIt {
				if m, _ := rec.Close(); m.State != StateFailed {
					t.Fatalf("meta at close: %+v", m)
				}
			}
			side, err := readSidecar(sidecar)
			if err != nil || side.State != StateFailed || !side.Failed {
				t.Fatalf("sidecar after the failure: %+v (%v)", side, err)
			}
			// The restart: the recording is judged again.
			_ = os.RemoveAll(sidecar + ".tmp")
			fixed, err := Repair(root)
			if err != nil {
				t.Fatal(err)
			}
			side, err = readSidecar(sidecar)
			if err != nil || side.State != StateFailed {
				t.Fatalf("after repair (fixed %v): %+v (%v), want failed", fixed, side, err)
			}
		})
	}
}
