package cdr

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// startRedis runs a throw-away redis-server for the test.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisStreamSink(t *testing.T) {
	c := startRedis(t)
	sink := &RedisStream{Client: c, Stream: "hotline:calls", MaxLen: 1000}
	w, err := NewCallWriter(WriterOptions{Dir: t.TempDir(), Sinks: []Sink{sink}})
	must.NoError(t, err)
	wait := startRun(t, w)
	for i := range 50 {
		must.NoError(t, w.Write(sampleRecord(i, day1)))
	}
	must.NoError(t, w.Close())
	must.NoError(t, wait())
	check.Equal(t, uint64(0), w.Stats().SinkFails)

	msgs, err := c.XRange(context.Background(), "hotline:calls", "-", "+").Result()
	must.NoError(t, err)
	must.Len(t, msgs, 50)
	var r Record
	must.NoError(t, json.Unmarshal([]byte(msgs[49].Values["record"].(string)), &r))
	check.Equal(t, "call-000049", r.CallID)
	check.Equal(t, "gold", r.Customer.Tier)
}

func TestRedisStreamSinkFailsFast(t *testing.T) {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: filepath.Join(t.TempDir(), "none.sock"), MaxRetries: -1})
	defer c.Close()
	sink := &RedisStream{Client: c, Stream: "s", Timeout: 200 * time.Millisecond}
	err := sink.Send(context.Background(), [][]byte{[]byte(`{}`)})
	check.ErrorContains(t, err, "append 1 records to redis stream s")
	check.ErrorContains(t, (&RedisStream{}).Send(context.Background(), nil), "needs a client")
}
