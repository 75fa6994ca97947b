package media

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPortPerLegMode runs the leg-level tests again with a port per leg
// (the layout for peers that need it, and the one before shared ports),
// in a child process of this test binary.
func TestPortPerLegMode(t *testing.T) {
	if !testShared {
		return // this is the child run
	}
	tests := []string{
		"TestSessionsTalkBothWays", "TestWriteFrame", "TestPlay", "TestSetReceiverSwap", "TestReframesOtherPtimes",
		"TestDirection", "TestSendErrorsDoNotStopPlayback", "TestStrictLatching", "TestDropsBadPackets",
		"TestDropsBeforeSetRemote", "TestLossAccounting", "TestBridge", "TestDTMF", "TestInjectDTMF", "TestSendDTMFCancelled",
		"TestSRTPBothWays", "TestMixerRunWhisperOverRTP", "TestCloseWhileBusy", "TestMixerChangesWhileRunning",
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^("+strings.Join(tests, "|")+")", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOTLINE_MEDIA_PORTS=own")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests with a port per leg failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child run did not pass:\n%s", out)
	}
}
