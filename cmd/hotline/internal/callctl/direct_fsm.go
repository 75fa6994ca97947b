package callctl

// directState is where a call placed from the desktop stands (internal
// call to a colleague, outbound call to a customer): the agent's phone
// rings first, then the far end; then they talk until one hangs up.
type directState int

const (
	directRingingAgent directState = iota
	directRingingFar
	directTalking
	directHeld
	directEnded
)

var directStateNames = [...]string{"ringing", "ringing-far", "talking", "held", "ended"}

func (s directState) String() string { return directStateNames[s] }

// directTransitions is the direct call's state machine.
var directTransitions = map[directState][]directState{
	// The agent's phone answers, or does not (or the desktop hangs up).
	directRingingAgent: {directRingingFar, directEnded},
	// The far end answers, or does not, or the agent gives up.
	directRingingFar: {directTalking, directEnded},
	directTalking:    {directHeld, directEnded},
	directHeld:       {directTalking, directEnded},
	directEnded:      {},
}

func canMoveDirect(from, to directState) bool {
	for _, s := range directTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
