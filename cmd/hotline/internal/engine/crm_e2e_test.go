package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
)

// Numbers the local store lacks go to the live CRM; a CRM that does not
// answer in time costs the caller no more than the lookup timeout and the
// call goes on with tier normal, flagged in its record.
func TestLiveCRMFallbackAndSlowCRM(t *testing.T) {
	t.Parallel()
	crmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/13955550000"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"number":"13955550000","id":"L1","name":"Live Gold","tier":"gold","region":"south"}`))
		case strings.HasSuffix(r.URL.Path, "/13955550001"):
			select { // a CRM that hangs
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			http.Error(w, "too late", http.StatusGatewayTimeout)
		default:
			http.NotFound(w, r)
		}
	}))
	defer crmSrv.Close()
	d := startDemo(t, func(c *config.Config) {
		c.CRM.Live.URL = crmSrv.URL + "/customers/{number}"
		c.CRM.Live.Timeout = config.Duration(250 * time.Millisecond)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Both callers hang up during the menu.
	live := d.dial(t, ctx, "13955550000", "10010", 5*time.Second)
	slow := d.dial(t, ctx, "13955550001", "10010", 5*time.Second)
	live.finished(ctx)
	slow.finished(ctx)
	for range 2 {
		res := d.result(t, ctx)
		var ms int
		for _, tr := range res.Trace {
			if tr.Node == "identify" && tr.Event == "lookup" {
				ms, _ = strconv.Atoi(tr.Detail["ms"])
			}
		}
		switch res.Vars["caller"] {
		case "13955550000":
			if res.Vars["tier"] != "gold" || res.Vars["name"] != "Live Gold" || res.Vars["lookup_failed"] == "true" {
				t.Fatalf("live CRM customer: vars %v", res.Vars)
			}
		case "13955550001":
			if res.Vars["tier"] != "normal" || res.Vars["lookup_failed"] != "true" {
				t.Fatalf("slow CRM: vars %v", res.Vars)
			}
			// The configured bound is 300 ms; allow scheduling slack, not the CRM's 3 s.
			if ms > 1000 {
				t.Fatalf("slow CRM held the caller %d ms", ms)
			}
			if rec := d.record(t, res.CallID); !rec.LookupDegraded || rec.Customer.Tier != "normal" {
				t.Fatalf("record of the slow-CRM call: degraded %v tier %q", rec.LookupDegraded, rec.Customer.Tier)
			}
		default:
			t.Fatalf("unexpected caller %q", res.Vars["caller"])
		}
	}
}
