package recording_test

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hotlinecc/hotline/recording"
)

// Example shows the engine's wiring: repair at start-up, one Recorder with
// its flusher, a recording per bridged call, the HTTP handler behind the
// agent API's auth.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := "/var/lib/hotline/recordings"

	if fixed, err := recording.Repair(root); err != nil {
		slog.Warn("recording repair", "fixed", fixed, "err", err)
	}
	rc := recording.NewRecorder(recording.Config{
		Root:      root,
		Retention: 90 * 24 * time.Hour,
		Options: recording.Options{OnFailure: func(callID string, err error) {
			// raise the alert metric / event here
		}},
	})
	go func() { _ = rc.Run(ctx) }() // stopped by cancel
	defer rc.Close()

	// On bridge, if the queue's policy says so:
	policy, _ := recording.ParsePolicy("always")
	if policy.Record("7f3c2a") {
		rec, err := rc.Open(recording.Meta{CallID: "7f3c2a", Agent: "1001", Queue: "sales", Caller: "+8613800000000"})
		if err != nil {
			slog.Warn("recording failed, call continues", "err", err) // rec is still safe to use
		}
		pcm := make([]int16, 160)       // decoded G.711 from the caller leg's RTP goroutine
		rec.Feed(recording.Caller, pcm) // ... and recording.Agent from the agent leg's
		rec.Pause("card number")        // agent desktop action
		rec.Resume()                    //
		meta, _ := rec.Close()          // at hang-up; meta goes into the call record
		_ = meta
	}

	// In the agent API: same auth, scoped by role.
	auth := func(r *http.Request) (recording.Scope, error) {
		return func(m recording.Meta) bool { return m.Queue == "sales" }, nil
	}
	http.Handle("/recordings/", recording.NewHandler(root, "/recordings/", auth, nil))
}
