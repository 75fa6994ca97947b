// Package acdtest is the ACD's behaviour suite: call distribution, RONA,
// abandons, overflow, wrap-up, breaks, supervisor actions and the agent
// state machine, run through the public API with a fake phone and a fake
// clock. Every acd.Store implementation must pass it, since the ACD has to
// behave the same whether its shared state lives in memory or in Redis.
package acdtest

import (
	"testing"

	"github.com/hotlinecc/hotline/acd"
)

// suite carries the store factory to every test.
type suite struct {
	newStore func(t *testing.T) acd.Store
}

// Run runs every behaviour test as a subtest of t, each ACD on a fresh,
// empty store from newStore. newStore is called once per ACD the test
// starts (with that test's t, so it can register its cleanup) and must
// return a store no other test shares.
func Run(t *testing.T, newStore func(t *testing.T) acd.Store) {
	su := suite{newStore: newStore}
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"TestDistributionTwoTiers", su.testDistributionTwoTiers},
		{"TestCallArrivalSkillLevel", su.testCallArrivalSkillLevel},
		{"TestRONARequeuesAtHead", su.testRONARequeuesAtHead},
		{"TestRingTimeout", su.testRingTimeout},
		{"TestAbandonWhileRinging", su.testAbandonWhileRinging},
		{"TestAbandonRacesAnswer", su.testAbandonRacesAnswer},
		{"TestAbandonWhileQueued", su.testAbandonWhileQueued},
		{"TestOverflow", su.testOverflow},
		{"TestManualMode", su.testManualMode},
		{"TestWrapUpThenReady", su.testWrapUpThenReady},
		{"TestBreakOverrunAndAdjustWarning", su.testBreakOverrunAndAdjustWarning},
		{"TestSupervisorSignOutWhileRinging", su.testSupervisorSignOutWhileRinging},
		{"TestShiftChangeSameSeat", su.testShiftChangeSameSeat},
		{"TestStateLog", su.testStateLog},
		{"TestBusSlowSubscriber", su.testBusSlowSubscriber},
		{"TestEnqueueBadInput", su.testEnqueueBadInput},
		{"TestStoreDownFallsBackToLocalRouting", su.testStoreDownFallsBackToLocalRouting},
		{"TestTransitionTable", su.testTransitionTable},
		{"TestAgentActionsEveryState", su.testAgentActionsEveryState},
		{"TestLoginErrors", su.testLoginErrors},
		{"TestPermissions", su.testPermissions},
		{"TestStoreMirrorsACD", su.testStoreMirrorsACD},
		{"TestPropertyRandomInterleavings", su.testPropertyRandomInterleavings},
		{"TestReleaseEveryState", su.testReleaseEveryState},
		{"TestDirectOfferAndHandover", su.testDirectOfferAndHandover},
		{"TestDirectOfferEnds", su.testDirectOfferEnds},
		{"TestClearStaleCall", su.testClearStaleCall},
		{"TestReconfigure", su.testReconfigure},
		{"TestCallbackKeepsPlace", su.testCallbackKeepsPlace},
		{"TestCallbackRetriesThenFails", su.testCallbackRetriesThenFails},
		{"TestCallbackRefusalsAndWithdraw", su.testCallbackRefusalsAndWithdraw},
		{"TestCallbackRestored", su.testCallbackRestored},
		{"TestDirectOutboundCustomerAway", su.testDirectOutboundCustomerAway},
	} {
		t.Run(tc.name, tc.test)
	}
}
