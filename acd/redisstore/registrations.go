package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/sip"
)

// Registrations is a sip.Directory kept in Redis: every node publishes the
// phone registrations it accepted, so any node can ring any agent's phone.
//
// # Keys
//
//	reg:<user>   string   JSON list of sip.Binding, from every node, each
//	                      with its Node; PXAT = the latest binding's expiry
//
// (after Options.Prefix, like the Store's keys). A node's Publish replaces
// only its own bindings in the list, so a user with phones registered through
// two nodes keeps both; expired bindings are dropped on every write and the
// key vanishes with its last binding, so no sweeper is needed. A node that
// dies leaves its bindings until they expire: the phones stay reachable at
// their contacts meanwhile, and a phone re-registering through another node
// is published again by that node (sip.Server.Dial rings each contact once).
type Registrations struct {
	rdb    *redis.Client
	prefix string
	node   string
}

var _ sip.Directory = (*Registrations)(nil)

// publishRetries bounds the optimistic-lock retries of one Publish. Each
// retry means another Publish of the same user committed, and only REGISTERs
// of one user through several nodes at the same instant conflict, so this is
// never reached short of a REGISTER storm for one user.
const publishRetries = 32

// NewRegistrations returns a directory for opts (Addr, Password, DB, TLS,
// Prefix, Timeout and Node are used; Node should equal the sip.Config.Node
// of the server publishing through it). It does not contact Redis.
func NewRegistrations(opts Options) (*Registrations, error) {
	if opts.Addr == "" {
		return nil, errors.New("redisstore: registrations: no address")
	}
	if opts.Timeout < 0 {
		return nil, errors.New("redisstore: registrations: negative timeout")
	}
	node := nodeName(opts.Node)
	timeout := cmp.Or(opts.Timeout, DefaultTimeout)
	// As for Store: a REGISTER or a ringing agent must not wait through a
	// backoff series when Redis is gone.
	rdb := newClient(opts, timeout)
	return &Registrations{rdb: rdb, prefix: cmp.Or(opts.Prefix, DefaultPrefix), node: node}, nil
}

// Node is the node name this directory publishes under.
func (r *Registrations) Node() string { return r.node }

// Close closes the connections to Redis.
func (r *Registrations) Close() error {
	if err := r.rdb.Close(); err != nil {
		return fmt.Errorf("redisstore: registrations: close: %w", err)
	}
	return nil
}

func (r *Registrations) key(user string) string { return r.prefix + "reg:" + user }

// Publish implements sip.Directory: it replaces this node's bindings of
// user with bindings (none: removes them), keeping other nodes' live ones.
// A binding naming another node is refused: the engine wired its sip server
// and this directory with different node names.
func (r *Registrations) Publish(ctx context.Context, user string, bindings []sip.Binding) error {
	mine := make([]sip.Binding, 0, len(bindings))
	for _, b := range bindings {
		if b.Node != "" && b.Node != r.node {
			return fmt.Errorf("redisstore: publish %s: binding of node %q published as node %q", user, b.Node, r.node)
		}
		b.Node = r.node
		mine = append(mine, b)
	}
	key := r.key(user)
	write := func(tx *redis.Tx) error {
		data, err := get(ctx, tx, key)
		if err != nil {
			return err
		}
		// An unreadable value is replaced, not kept: it is of no use to any node.
		stored, _ := decode(data)
		now := time.Now()
		var merged []sip.Binding
		var latest time.Time
		for _, b := range stored {
			if b.Node != r.node && b.Expires.After(now) { // ours are replaced by mine
				merged = append(merged, b)
			}
		}
		for _, b := range mine {
			if b.Expires.After(now) {
				merged = append(merged, b)
			}
		}
		for _, b := range merged {
			if b.Expires.After(latest) {
				latest = b.Expires
			}
		}
		var value []byte
		if len(merged) > 0 {
			if value, err = json.Marshal(merged); err != nil {
				return err
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if value == nil {
				p.Del(ctx, key)
			} else {
				// Rounded up: the key must not vanish before its latest binding expires.
				p.Do(ctx, "SET", key, value, "PXAT", strconv.FormatInt(latest.UnixMilli()+1, 10))
			}
			return nil
		})
		return err
	}
	for range publishRetries {
		err := r.rdb.Watch(ctx, write, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue // another node wrote the key between our read and write
		}
		if err != nil {
			return fmt.Errorf("redisstore: publish %s: %w", user, err)
		}
		return nil
	}
	return fmt.Errorf("redisstore: publish %s: %w", user, redis.TxFailedErr)
}

// Lookup implements sip.Directory: user's live bindings from every node.
func (r *Registrations) Lookup(ctx context.Context, user string) ([]sip.Binding, error) {
	data, err := get(ctx, r.rdb, r.key(user))
	if err != nil {
		return nil, fmt.Errorf("redisstore: lookup %s: %w", user, err)
	}
	stored, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("redisstore: lookup %s: %w", user, err)
	}
	now := time.Now()
	live := stored[:0]
	for _, b := range stored {
		if b.Expires.After(now) {
			live = append(live, b)
		}
	}
	return live, nil
}

func get(ctx context.Context, c redis.Cmdable, key string) ([]byte, error) {
	data, err := c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return data, err
}

func decode(data []byte) ([]sip.Binding, error) {
	if data == nil {
		return nil, nil
	}
	var bs []sip.Binding
	if err := json.Unmarshal(data, &bs); err != nil {
		return nil, fmt.Errorf("stored bindings: %w", err)
	}
	return bs, nil
}
