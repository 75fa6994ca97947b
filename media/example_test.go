package media_test

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hotlinecc/hotline/media"
)

// A call's media life cycle as the SIP layer drives it: one session per
// leg, remote details from SDP, a prompt, then the bridge to the agent.
func Example() {
	ports, err := media.NewPortAllocator(20000, 20999)
	if err != nil {
		panic(err)
	}
	engineIP := netip.MustParseAddr("127.0.0.1")
	caller, err := media.NewSession(ports, engineIP, slog.Default())
	if err != nil {
		panic(err) // all ports busy: answer 503
	}
	defer caller.Close()
	// From the caller's SDP offer after negotiation (media/sdp).
	caller.SetRemote(netip.MustParseAddrPort("127.0.0.1:40000"), media.PCMU, media.DefaultDTMFPayloadType)
	caller.Start()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = caller.Play(ctx, media.Tone(440, 200*time.Millisecond, 8000))

	agent, err := media.NewSession(ports, engineIP, slog.Default())
	if err != nil {
		panic(err)
	}
	defer agent.Close()
	agent.SetRemote(netip.MustParseAddrPort("127.0.0.1:40002"), media.PCMA, 0)
	agent.Start()

	br := media.NewBridge(caller, agent)
	defer br.Close()
	br.Hold(ctx, media.Tone(500, time.Second, 4000)) // agent pressed hold
	br.Unhold()
}
