// Package recording writes call recordings that survive crashes, full disks
// and unwritable directories without ever disturbing the call itself.
//
// One job: turn the linear PCM of a bridged call's two legs into an 8 kHz
// 16-bit WAV file (caller left, agent right, or mixed mono) laid out as
// <root>/YYYY/MM/DD/<callid>.wav with a JSON sidecar <callid>.json, and give
// the engine the tools around it: start-up repair, retention and an HTTP
// handler for supervisors.
//
// # Alignment design
//
// Each leg's RTP goroutine calls [Recording.Feed]; the two legs are aligned
// on a per-recording sample timeline whose origin is the wall-clock instant
// of [Open]. A leg's first packet (and any packet after the leg fell behind
// the write head, e.g. after it stopped sending or after a pause) is placed
// at its arrival time; later packets follow contiguously, so network jitter
// does not shift audio as long as it stays under the playout delay. Feed only
// copies samples into a fixed per-channel ring under a short mutex: no
// allocation, no I/O, no channel send, so it can never block the media path.
//
// Writing is done by one shared flusher goroutine ([Recorder.Run]) that every
// tick (50 ms by default) drains every active recording up to "now minus the
// playout delay": positions nobody fed are written as silence, which is what
// makes a leg that stops sending, or a paused recording, come out as silence
// and the file length equal to the call length. One goroutine for all calls
// was chosen over a ticker per recording because 500 tickers on 2 cores cost
// 25 000 wake-ups a second for work that batches naturally, and over a pure
// timestamp approach (writing from Feed) because that would put file I/O on
// the RTP goroutines, where a slow disk would delay forwarding.
//
// # Crash safety
//
// Audio goes through a bufio.Writer; about once a second the writer is
// flushed and the RIFF and data sizes in the 44-byte header are rewritten
// with one pwrite, always after the data they describe. A file cut at any
// moment therefore plays up to the last header update. [Repair], run at
// start-up, fixes the sizes of anything a crash or power loss left behind to
// the whole frames actually on disk.
//
// # Failures
//
// [Open] never returns a nil *Recording: if the directory cannot be created
// or the file cannot be opened, the returned recording is already failed,
// its Feed/Pause/Resume are no-ops and Close reports Meta.Failed. A write
// error mid-call (ENOSPC, EIO) marks the recording failed the same way.
// Options.OnFailure is called once per failed recording so the engine can
// raise a metric or event.
package recording
