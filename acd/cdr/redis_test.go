package cdr

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a private redis-server on a unix socket (no TCP port).
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	must.NoError(t, err, "redis-server is part of the dev environment (TOOLING.md)")
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	must.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	t.Cleanup(func() { c.Close() })
	eventually(t, func() bool {
		if _, err := os.Stat(sock); err != nil {
			return false
		}
		return c.Ping(context.Background()).Err() == nil
	})
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
