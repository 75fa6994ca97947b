package agentapi

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// Any sequence of frames gets exactly one reply per frame and never
// panics, whatever the bytes.
func FuzzFrames(f *testing.F) {
	seeds := []string{
		`{"id":"1","type":"login","agent":"1001","password":"pass1001"}` + "\n" + `{"id":"2","type":"set_state","state":"break","reason":"lunch"}`,
		`{"id":"1","type":"login","agent":"9001","password":"pass9001"}` + "\n" + `{"id":"2","type":"force_not_ready","agent":"1001"}` + "\n" + `{"id":"3","type":"monitor","agent":"1001","mode":"barge"}`,
		`{"id":"1","type":"login","agent":"1001","password":"pass1001"}` + "\n" + `{"id":"2","type":"transfer","target":{"kind":"external","value":"+1"}}` + "\n" + `{"id":"3","type":"outbound","number":"123"}`,
		`{"id":"1","type":"login","agent":"1001","password":"pass1001"}` + "\n" + `{"id":"2","type":"internal_call","agent":"1002"}` + "\n" + `{"id":"3","type":"shift_change","agent":"1002","password":"pass1002"}`,
		`{"id":"1","type":"resume","token":"x"}`,
		`{"id":"1","type":"dtmf","digits":"\u0000"}`,
		`{"id":{},"type":[]}`,
		`null`,
		`{"id":"1","type":"hello","seconds":1e400}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newEnv(t)
		c := newClient(e.srv, nil, "fuzz")
		frames := bytes.Split(data, []byte("\n"))
		if len(frames) > 20 {
			frames = frames[:20]
		}
		for _, fr := range frames {
			c.handle(fr)
		}
		// A monitor is answered off the reader (asyncRequests): its reply
		// may come after handle returned.
		replies := 0
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			for _, m := range c.take(nil) {
				var r struct{ Type string }
				if err := json.Unmarshal(m, &r); err != nil {
					t.Fatalf("server sent invalid JSON %q: %v", m, err)
				}
				if r.Type == "reply" {
					replies++
				}
			}
			if replies >= len(frames) || time.Now().After(deadline) || isClosed(c.stop) {
				break
			}
		}
		select {
		case <-c.stop:
			return // closed for abuse: later frames were never answered
		default:
		}
		if replies != len(frames) {
			t.Fatalf("%d frames, %d replies", len(frames), replies)
		}
	})
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The protocol document covers every request type and error code.
func TestProtocolDocumentCoversEverything(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for typ := range handlers {
		if !strings.Contains(string(doc), `"type":"`+typ+`"`) {
			t.Errorf("PROTOCOL.md has no example of %q", typ)
		}
	}
	for _, code := range []string{CodeBadRequest, CodeUnknownType, CodeTooLarge, CodeRateLimited, CodeUnauthenticated, CodeBadCredentials,
		CodeInvalidToken, CodeForbidden, CodeIllegalTransition, CodeUnknownAgent, CodeNotPermitted, CodeUnknownReason,
		CodeUnknownCall, CodeSeatBusy, CodeAlreadyLoggedIn, CodeOtherNode, CodeQueueBusy, CodeAgentBusy, CodeUnsupported, CodeUnavailable,
		CodeTimeout, CodeInternal} {
		if !strings.Contains(string(doc), "`"+code+"`") {
			t.Errorf("PROTOCOL.md does not list error code %q", code)
		}
	}
}
