package callctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/sip"
)

// callerLeg adapts the caller's SIP leg to what the IVR interpreter drives.
type callerLeg struct {
	leg       *sip.Leg
	prompts   *PromptCache
	recDir    string
	log       *slog.Logger
	digits    chan rune
	lastDigit atomic.Int64 // unix nanos of the last key not yet answered by a prompt
	latency   func(time.Duration)
}

func newCallerLeg(ctx context.Context, leg *sip.Leg, pc *PromptCache, recDir string, log *slog.Logger, latency func(time.Duration)) *callerLeg {
	c := &callerLeg{leg: leg, prompts: pc, recDir: recDir, log: log, digits: make(chan rune, 32), latency: latency}
	// Stamp each key as the engine receives it: the digit → next prompt
	// clock starts here, not when the IVR gets round to reading it. Done on
	// the media receive goroutine (no reader goroutine per call).
	leg.Media().OnDTMF(func(d rune) {
		if ctx.Err() != nil {
			return
		}
		c.lastDigit.Store(time.Now().UnixNano())
		select {
		case c.digits <- d:
		default: // 32 keys ahead of the IVR: the oldest intent is kept
		}
	})
	return c
}

func (c *callerLeg) CallerNumber() string { return c.leg.Info.Caller }
func (c *callerLeg) Dialled() string      { return c.leg.Info.Dialled }
func (c *callerLeg) Digits() <-chan rune  { return c.digits }
func (c *callerLeg) Hangup(ctx context.Context, reason string) error {
	return c.leg.Hangup(ctx)
}

func (c *callerLeg) Play(ctx context.Context, files ...string) error {
	ps, err := c.promptsFor(files)
	if err != nil {
		return err
	}
	return c.leg.Media().Play(ctx, ps...)
}

// StartPlay is Play for an interpreter that listens for keys meanwhile:
// the media clock plays and tells done, no goroutine waits.
func (c *callerLeg) StartPlay(ctx context.Context, done func(error), files ...string) {
	ps, err := c.promptsFor(files)
	if err != nil {
		done(err)
		return
	}
	c.leg.Media().StartPlay(ctx, done, ps...)
}

// promptsFor loads the files; the prompt's first packet leaves as play
// starts, so this closes the clock of the key that led here.
func (c *callerLeg) promptsFor(files []string) ([]*media.Prompt, error) {
	ps := make([]*media.Prompt, 0, len(files))
	for _, f := range files {
		p, err := c.prompts.Get(f)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if at := c.lastDigit.Swap(0); at != 0 && c.latency != nil {
		c.latency(time.Since(time.Unix(0, at)))
	}
	return ps, nil
}

// Record keeps the caller's audio (voicemail, complaints) until maxLen,
// silence or ctx, through the same crash-safe writer as call recordings
// (mono, dated layout, sidecar); path, where the IVR expects the file, is a
// hard link to it.
func (c *callerLeg) Record(ctx context.Context, path string, maxLen, silence time.Duration) (time.Duration, error) {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@+-", r) {
			return r
		}
		return '-'
	}, strings.TrimSuffix(filepath.Base(path), ".wav"))
	rec, err := recording.Open(c.recDir, recording.Meta{CallID: id, Caller: c.leg.Info.Caller}, recording.Options{Mono: true})
	if err != nil {
		c.log.Warn("voicemail not writable; the call goes on", "err", err)
	}
	var mu sync.Mutex
	lastVoice := time.Now()
	c.leg.Media().SetReceiver(func(pcm []int16) {
		rec.Feed(recording.Caller, pcm)
		for _, s := range pcm {
			if s > 800 || s < -800 {
				mu.Lock()
				lastVoice = time.Now()
				mu.Unlock()
				break
			}
		}
	})
	defer c.leg.Media().SetReceiver(nil)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			_ = rec.Drain()
			mu.Lock()
			quiet := silence > 0 && now.Sub(lastVoice) > silence
			mu.Unlock()
			if now.Sub(start) >= maxLen || quiet {
				break loop
			}
		}
	}
	c.leg.Media().SetReceiver(nil)
	meta, cerr := rec.Close()
	if err != nil || cerr != nil || meta.Failed {
		return 0, fmt.Errorf("record %s: %w", id, errors.Join(err, cerr, errors.New(meta.Error)))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if err := os.Link(filepath.Join(c.recDir, filepath.FromSlash(meta.File)), path); err != nil {
		return 0, fmt.Errorf("record %s: link %s: %w", id, path, err)
	}
	return time.Duration(meta.DurationMS) * time.Millisecond, nil
}

// PromptCache keeps decoded prompts: a prompt is read once, played by every call.
type PromptCache struct {
	mu sync.Mutex
	m  map[string]*media.Prompt
}

// NewPromptCache returns an empty cache.
func NewPromptCache() *PromptCache { return &PromptCache{m: map[string]*media.Prompt{}} }

// Get returns the prompt at path, reading it the first time.
func (pc *PromptCache) Get(path string) (*media.Prompt, error) {
	pc.mu.Lock()
	p, ok := pc.m[path]
	pc.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := media.LoadWAV(path)
	if err != nil {
		return nil, err
	}
	pc.mu.Lock()
	pc.m[path] = p
	pc.mu.Unlock()
	return p, nil
}

// queuer hands the flow's callers to the ACD through their call's owner.
type queuer struct{ ctl *Control }

func (q queuer) Enqueue(ctx context.Context, req ivr.QueueRequest) (ivr.QueuedCall, error) {
	c := q.ctl.call(req.CallID)
	if c == nil {
		return nil, fmt.Errorf("enqueue: unknown call %s: %w", req.CallID, ErrCallEnded)
	}
	if qc := c.takePreset(); qc != nil {
		return qc, nil
	}
	ev := &event{kind: evEnqueue, req: &req, replyQueue: make(chan enqueueReply, 1)}
	if !c.post(ev) {
		return nil, fmt.Errorf("enqueue %s: %w", req.CallID, ErrCallEnded)
	}
	r := <-ev.replyQueue
	if r.err != nil {
		return nil, r.err
	}
	return r.qc, nil
}

// queuedCall is the flow's handle on one wait in a queue. The owner
// decides how the wait ends and says so on result.
type queuedCall struct {
	c           *Call
	ticket      *acd.Ticket
	queue, tier string
	req         acd.Call              // what the ACD was given (for a requeue)
	result      chan ivr.QueueOutcome // buffered 1, written once by the owner
	settled     bool                  // owner-only: result was written
}

// settle ends the flow's wait (owner only; later calls do nothing).
func (qc *queuedCall) settle(o ivr.QueueOutcome) {
	if qc.settled {
		return
	}
	qc.settled = true
	qc.result <- o
}

// Wait returns when the owner connected an agent or the ACD let the caller go.
func (qc *queuedCall) Wait(ctx context.Context) (ivr.QueueOutcome, error) {
	select {
	case o := <-qc.result:
		return o, nil
	case <-ctx.Done():
		return ivr.QueueOutcome{}, ctx.Err()
	}
}

// Position is the caller's place for announcements.
func (qc *queuedCall) Position() ivr.QueuePosition {
	p := qc.ticket.Position()
	if !p.Waiting {
		return ivr.QueuePosition{}
	}
	return ivr.QueuePosition{Place: p.Place, EstimatedWait: p.EstimatedWait}
}

// Bridge joins caller and agent and returns when the conversation is over.
func (qc *queuedCall) Bridge(ctx context.Context) (ivr.BridgeResult, error) {
	ev := &event{kind: evBridge, replyBridge: make(chan ivr.BridgeResult, 1)}
	if !qc.c.post(ev) {
		return ivr.BridgeResult{End: ivr.EndCallerHangup}, nil
	}
	return <-ev.replyBridge, nil
}

// Leave takes the caller out of the queue (or releases an agent who
// answered but will not be joined).
func (qc *queuedCall) Leave(reason ivr.LeaveReason) {
	qc.c.post(&event{kind: evLeave, reason: reason})
}

// transferer refuses the IVR's own transfer nodes to numbers: they need
// an outbound trunk the flow does not name (desktops transfer instead).
type transferer struct{}

func (transferer) Transfer(ctx context.Context, req ivr.TransferRequest) error {
	return fmt.Errorf("transfer %s to %s %q: %w", req.CallID, req.Kind, req.Target, errors.ErrUnsupported)
}
