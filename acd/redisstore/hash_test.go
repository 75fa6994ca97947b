package redisstore

import (
	"context"
	"testing"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// A node's hash keeps its values across a new connection (a restart of
// the node) and is its own: another node's hash of the same name is apart.
func TestHashPerNodeSurvivesReconnect(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := newTestStore(t, srv, "n1", "h:").Hash("callbacks")
	b := newTestStore(t, srv, "n2", "h:").Hash("callbacks")
	for _, kv := range [][2]string{{"c1-cb", `{"x":1}`}, {"c2-cb", `{"x":2}`}} {
		if err := a.Put(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, "other", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, "c1-cb"); err != nil {
		t.Fatal(err)
	}
	again := newTestStore(t, srv, "n1", "h:").Hash("callbacks")
	all, err := again.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || string(all["c2-cb"]) != `{"x":2}` {
		t.Fatalf("node n1 after a restart: %q", all)
	}
	srv.Stop()
	if _, err := again.All(ctx); err == nil {
		t.Fatal("no error with Redis down")
	}
}
