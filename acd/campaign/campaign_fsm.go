package campaign

// State is where a campaign stands. Start, Pause, Stop and the runner's
// completion check move it, under the runner's lock, only along the
// transitions below.
type State string

// Campaign states.
const (
	// CampaignStopped: nothing is offered or dialled; previews were withdrawn.
	// The state of a campaign that was never started.
	CampaignStopped State = "stopped"
	// CampaignRunning: previews are offered / contacts dialled as agents free up.
	CampaignRunning State = "running"
	// CampaignPaused: no new previews or dials; calls up and previews already on
	// a desktop go on.
	CampaignPaused State = "paused"
	// CampaignCompleted: no contact can be dialled again.
	CampaignCompleted State = "completed"
)

// campaignTransitions is the campaign state machine.
var campaignTransitions = map[State][]State{
	// Start; or loaded with nothing left to dial.
	CampaignStopped: {CampaignRunning, CampaignCompleted},
	// Pause, stop, or the last contact finished.
	CampaignRunning: {CampaignPaused, CampaignStopped, CampaignCompleted},
	// Resume, stop, or the last call up finished the last contact.
	CampaignPaused: {CampaignRunning, CampaignStopped, CampaignCompleted},
	// Contacts added to its list (a restart with a longer list) make it
	// stoppable again; it never runs without a start.
	CampaignCompleted: {CampaignStopped},
}

// canMoveCampaign reports whether the campaign state machine allows from → to.
func canMoveCampaign(from, to State) bool {
	for _, s := range campaignTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func validState(s State) bool {
	_, ok := campaignTransitions[s]
	return ok
}
