package crm_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/hotlinecc/hotline/routing/crm"
)

// The call path's wiring: a memory store loaded from the customer file, a
// region prefix table, and the resolver the IVR asks.
func Example() {
	ctx := context.Background()
	store := crm.NewMemStore()
	im, err := crm.NewImporter(store, crm.ImportConfig{Tiers: crm.DemoTiers})
	if err != nil {
		log.Fatal(err)
	}
	// In the product: im.ImportFile(ctx, "testdata/crm/customers.csv", crm.FullLoad).
	rep, err := im.ImportCSV(ctx, strings.NewReader(`number,name,tier,region,blacklisted
13800000001,Demo Diamond,diamond,north,no
13800000009,Demo Blocked,normal,south,yes
`), crm.FullLoad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loaded", rep.Loaded, "rejected", rep.RejectedCount)

	regions, err := crm.NewPrefixTable(map[string]string{"139": "east"})
	if err != nil {
		log.Fatal(err)
	}
	resolver, err := crm.NewResolver(crm.ResolverConfig{Store: store, Regions: regions})
	if err != nil {
		log.Fatal(err)
	}
	for _, caller := range []string{"+8613800000001", "13800000009", "13912345678"} {
		c, err := resolver.Lookup(ctx, caller)
		fmt.Printf("%s: tier=%s region=%s blacklisted=%v known=%v degraded=%v err=%v\n",
			caller, c.Tier, c.Region, c.Blacklisted, c.Known(), c.Degraded, err)
	}
	// Output:
	// loaded 2 rejected 0
	// +8613800000001: tier=diamond region=north blacklisted=false known=true degraded=false err=<nil>
	// 13800000009: tier=normal region=south blacklisted=true known=true degraded=false err=<nil>
	// 13912345678: tier=normal region=east blacklisted=false known=false degraded=false err=<nil>
}
