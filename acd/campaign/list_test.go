package campaign

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/routing/crm"
)

func listSpec(t *testing.T, csv string, extra string) *Spec {
	t.Helper()
	dir := writeFiles(t, map[string]string{"l.csv": csv})
	s, err := ParseSpec("s.yaml", []byte(minimal+extra), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestListImportRejects(t *testing.T) {
	csv := "\ufeffid,Number,name,region,tier,plan\n" + // line 1, BOM and any case
		"a1,13800000001,Ann,north,gold,basic\n" + // 2 ok
		"a2,+86 138-0000-0002,Bob,south,,premium\n" + // 3 ok, normalised, campaign tier
		"a3,12ab,Cat,north,,\n" + // 4 bad number
		"a4,008613800000001,Dan,north,,\n" + // 5 duplicate number (a1, international form)
		"a1,13800000005,Eve,north,,\n" + // 6 duplicate id
		"a6,13800000006,Fay,north\n" + // 7 missing column
		"a7,13800000007,Gus,north,,,extra\n" + // 8 extra column
		"a8,13800000008,Hal,north,platinum,\n" + // 9 bad tier
		",13800000009,,,,\n" + // 10 ok: id defaults to the number
		"a10,\"13800000010\",\"Li, Na\",south,NORMAL,x\n" // 11 ok, quoted comma, tier case
	s := listSpec(t, csv, "")
	list, err := ReadList(t.Context(), s, ImportOptions{Tiers: crm.DemoTiers})
	if err != nil {
		t.Fatal(err)
	}
	rep := list.Report
	if rep.Rows != 10 || rep.Loaded != 4 || rep.RejectedCount != 6 || rep.Rows != rep.Loaded+rep.RejectedCount {
		t.Errorf("report %+v", rep)
	}
	want := []struct {
		line   int
		reason RejectReason
		detail string
	}{
		{4, RejectBadNumber, `malformed number: "12ab" contains 'a'`},
		{5, RejectDuplicateNumber, "13800000001 already given at " + s.List + " line 2"},
		{6, RejectDuplicateID, `id "a1" already given at ` + s.List + " line 2"},
		{7, RejectMissingColumn, "4 fields, the header has 6"},
		{8, RejectExtraColumn, "7 fields, the header has 6"},
		{9, RejectBadTier, `tier "platinum" is not one of the configured tiers`},
	}
	if len(rep.Rejects) != len(want) {
		t.Fatalf("rejects: %v", rep.Rejects)
	}
	for i, w := range want {
		r := rep.Rejects[i]
		if r.Line != w.line || r.Reason != w.reason || r.Detail != w.detail || r.Source != s.List {
			t.Errorf("reject %d: %+v, want line %d %s %q", i, r, w.line, w.reason, w.detail)
		}
	}
	if got := rep.Rejects[0].String(); got != s.List+`:4: bad number "12ab": malformed number: "12ab" contains 'a'` {
		t.Errorf("reject string %q", got)
	}
	ids := []string{}
	for _, c := range list.Contacts {
		ids = append(ids, c.ID+"="+c.Number+"/"+c.Tier)
	}
	if got := strings.Join(ids, " "); got != "a1=13800000001/gold a2=13800000002/normal 13800000009=13800000009/normal a10=13800000010/normal" {
		t.Errorf("contacts %s", got)
	}
	if c := list.Contacts[3]; c.Name != "Li, Na" || c.Fields["plan"] != "x" || c.Region != "south" {
		t.Errorf("contact fields %+v", c)
	}
	if list.Contacts[2].Fields != nil {
		t.Error("empty extra cells make no fields")
	}
}

func TestListHeaderErrors(t *testing.T) {
	for _, tc := range []struct{ csv, want string }{
		{"", "empty file, want a header row"},
		{"name,region\nA,north\n", `:1: header: missing column "number"`},
		{"number,Number\n1,2\n", `:1: header: column "Number" given twice`},
		{"number,,name\n1,,a\n", ":1: header: column 2 has no name"},
	} {
		s := listSpec(t, tc.csv, "")
		_, err := ReadList(t.Context(), s, ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.csv, err, tc.want)
		}
	}
}

func TestDNCFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"good.txt": "number\n# comment\n13800000001\n\n+86 138 0000 0002  # asked 2026-11-02\n",
		"bad.txt":  "13800000001\n1380000000x\n",
	})
	d, err := ReadDNC(filepath.Join(dir, "good.txt"), crm.NumberPlan{})
	if err != nil || d.Len() != 2 || !d.Has("13800000002") {
		t.Errorf("good file: %v %v", d, err)
	}
	_, err = ReadDNC(filepath.Join(dir, "bad.txt"), crm.NumberPlan{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bad.txt")+":2: crm: malformed number") {
		t.Errorf("bad file: %v", err)
	}
}

// The pull reads the CRM pull importer's paged JSON (blacklisted
// customers join the do-not-call list), or a CSV at a plain URL, with the
// auth header and a timeout per request.
func TestPull(t *testing.T) {
	pages := map[string]string{
		"1": `{"customers": [{"number": "13800000001", "id": "c1", "name": "Ann", "region": "north", "attributes": {"plan": "gold"}},
		                     {"number": 13800000002, "name": "Bob", "blacklisted": true},
		                     {"number": "x"}]}`,
		"2": `[{"number": "13800000001", "id": "c9"}, {"number": "13800000003", "tier": "gold"}]`,
		"3": `[]`,
	}
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/paged":
			calls = append(calls, r.URL.Query().Get("page"))
			fmt.Fprint(w, pages[r.URL.Query().Get("page")])
		case "/list.csv":
			fmt.Fprint(w, "number,name\n13800000007,Gus\nbad,Bad\n")
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	s := listSpec(t, "number\n13800000005\n", fmt.Sprintf("pull: {url: \"%s/paged?page={page}\", auth_header: X-Key, auth_value: k}\n", srv.URL))
	list, err := ReadList(t.Context(), s, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(calls, ",") != "1,2,3" {
		t.Errorf("pages fetched: %v", calls)
	}
	rep := list.Report
	if rep.Rows != 6 || rep.Loaded != 4 || rep.RejectedCount != 2 || len(rep.Sources) != 2 {
		t.Errorf("report %+v", rep)
	}
	if r := rep.Rejects[0]; r.Page != 1 || r.Line != 3 || r.Reason != RejectBadNumber {
		t.Errorf("reject 0 %+v", r)
	}
	if r := rep.Rejects[1]; r.Page != 2 || r.Line != 1 || r.Reason != RejectDuplicateNumber {
		t.Errorf("reject 1 %+v (%s)", r, r)
	}
	if c := list.Contacts[1]; c.ID != "c1" || c.Fields["plan"] != "gold" {
		t.Errorf("pulled contact %+v", c)
	}
	if len(list.Blacklisted) != 1 || list.Blacklisted[0] != "13800000002" {
		t.Errorf("blacklisted %v", list.Blacklisted)
	}

	s = listSpec(t, "number\n13800000005\n", fmt.Sprintf("pull: {url: \"%s/list.csv\", auth_header: X-Key, auth_value: k}\n", srv.URL))
	list, err = ReadList(t.Context(), s, ImportOptions{})
	if err != nil || list.Report.Loaded != 2 || list.Report.RejectedCount != 1 || list.Report.Rejects[0].Line != 3 {
		t.Errorf("csv pull: %+v %v", list.Report, err)
	}

	s = listSpec(t, "number\n13800000005\n", fmt.Sprintf("pull: {url: \"%s/list.csv\"}\n", srv.URL))
	if _, err := ReadList(t.Context(), s, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "page 1: answered 401 Unauthorized") {
		t.Errorf("unauthorised pull: %v", err)
	}
	s = listSpec(t, "number\n13800000005\n", fmt.Sprintf("pull: {url: \"%s/slow\", auth_header: X-Key, auth_value: k, timeout: 200ms}\n", srv.URL))
	if _, err := ReadList(t.Context(), s, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("slow pull: %v", err)
	}
}

func TestListTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("number\n")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "1380000%04d\n", i)
	}
	s := listSpec(t, b.String(), "")
	_, err := ReadList(t.Context(), s, ImportOptions{MaxContacts: 3})
	if err == nil || !strings.Contains(err.Error(), ":5: more than 3 contacts") {
		t.Errorf("too many: %v", err)
	}
	os.Remove(s.List)
}
