package media

import "errors"

// Errors callers can test with errors.Is.
var (
	ErrClosed           = errors.New("media session closed")
	ErrNoRemote         = errors.New("no remote RTP address yet (SetRemote not called)")
	ErrNoPorts          = errors.New("no free RTP port in range")
	ErrUnsupportedCodec = errors.New("unsupported codec")
	ErrNoTelephoneEvent = errors.New("telephone-event not negotiated")
	ErrInvalidDigit     = errors.New("invalid DTMF digit")
	ErrEmptyPrompt      = errors.New("prompt has no audio")
	// ErrSend wraps a failed sendto; playback treats it as one lost packet
	// and carries on.
	ErrSend = errors.New("rtp send failed")
)
