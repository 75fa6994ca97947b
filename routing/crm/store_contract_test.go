package crm_test

import (
	"testing"

	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/routing/crm/crmtest"
)

func TestMemStoreContract(t *testing.T) {
	crmtest.RunStore(t, func(*testing.T) crm.Store { return crm.NewMemStore() })
}
