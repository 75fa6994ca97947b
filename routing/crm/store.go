package crm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Store holds customers keyed by canonical number (see NumberPlan.Normalise).
// The in-memory MemStore is the default; a Redis store for cluster mode
// implements the same interface.
type Store interface {
	// Get returns the customer with this canonical number or ErrNotFound.
	Get(ctx context.Context, number string) (Customer, error)
	// Put inserts or replaces one customer (incremental update).
	Put(ctx context.Context, c Customer) error
	// Delete removes one customer; deleting an unknown number returns
	// ErrNotFound.
	Delete(ctx context.Context, number string) error
	// Replace swaps the whole customer set for the one produced by all (full
	// reload). If all yields an error the previous set is kept and the error
	// returned. Duplicate numbers: the last one wins.
	Replace(ctx context.Context, all iter.Seq2[Customer, error]) error
	// Len is the number of customers held.
	Len(ctx context.Context) (int, error)
}

const (
	shardBits  = 6
	shardCount = 1 << shardBits
	maxField   = 1<<16 - 1
)

const (
	flagBlacklisted = 1 << iota
	flagIDIsNumber  // ID equals Number; not stored twice
)

// record is a pointer-free customer row so that the garbage collector never
// scans the million of them; strings live in the shard's byte arena.
type record struct {
	key     uint64
	off     uint32 // arena offset of ID bytes, then Name bytes
	idLen   uint16
	nameLen uint16
	tier    uint16 // interned
	region  uint16 // interned
	flags   uint8
}

type shard struct {
	mu    sync.RWMutex
	index map[uint64]int32
	recs  []record
	arena []byte
	dead  int // arena bytes no record points at any more
	attrs map[uint64]map[string]string
}

type snapshot struct {
	shards [shardCount]shard
}

func newSnapshot() *snapshot {
	s := &snapshot{}
	for i := range s.shards {
		s.shards[i].index = make(map[uint64]int32)
	}
	return s
}

func shardOf(key uint64) int {
	return int((key * 0x9E3779B97F4A7C15) >> (64 - shardBits))
}

// MemStore is the in-memory customer store, sized for millions of customers.
// Full reloads build a new snapshot off to the side and swap it atomically, so
// lookups never wait for a reload; incremental updates lock one of 64 shards
// for microseconds. Updates racing a full reload are lost to it (the next
// refresh brings them back).
type MemStore struct {
	writeMu sync.Mutex // serialises incremental writers
	snap    atomic.Pointer[snapshot]
	dict    interner
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	m := &MemStore{}
	m.snap.Store(newSnapshot())
	m.dict.init()
	return m
}

func canonKey(number string) (uint64, error) {
	k, ok := numberKey(number)
	if !ok {
		return 0, fmt.Errorf("%w: %q is not a canonical number", ErrMalformedNumber, number)
	}
	return k, nil
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, number string) (Customer, error) {
	key, err := canonKey(number)
	if err != nil {
		return Customer{}, err
	}
	sh := &m.snap.Load().shards[shardOf(key)]
	sh.mu.RLock()
	i, ok := sh.index[key]
	if !ok {
		sh.mu.RUnlock()
		return Customer{}, ErrNotFound
	}
	r := sh.recs[i]
	name := string(sh.arena[int(r.off)+int(r.idLen) : int(r.off)+int(r.idLen)+int(r.nameLen)])
	var id string
	if r.flags&flagIDIsNumber == 0 {
		id = string(sh.arena[r.off : int(r.off)+int(r.idLen)])
	}
	var attrs map[string]string
	if a := sh.attrs[key]; a != nil {
		attrs = maps.Clone(a)
	}
	sh.mu.RUnlock()
	names := m.dict.names()
	c := Customer{
		ID:          id,
		Number:      keyNumber(key),
		Name:        name,
		Tier:        names[r.tier],
		Region:      names[r.region],
		Blacklisted: r.flags&flagBlacklisted != 0,
		Attributes:  attrs,
		Source:      SourceStore,
	}
	if r.flags&flagIDIsNumber != 0 {
		c.ID = c.Number
	}
	return c, nil
}

// encode validates c and turns it into a record whose strings still need
// appending to an arena.
func (m *MemStore) encode(c Customer) (record, error) {
	key, err := canonKey(c.Number)
	if err != nil {
		return record{}, err
	}
	if len(c.ID) > maxField || len(c.Name) > maxField {
		return record{}, fmt.Errorf("crm: customer %s: id or name longer than %d bytes", c.Number, maxField)
	}
	tier, err := m.dict.intern(c.Tier)
	if err != nil {
		return record{}, err
	}
	region, err := m.dict.intern(c.Region)
	if err != nil {
		return record{}, err
	}
	r := record{key: key, tier: tier, region: region, nameLen: uint16(len(c.Name))}
	if c.Blacklisted {
		r.flags |= flagBlacklisted
	}
	if c.ID == "" || c.ID == c.Number {
		r.flags |= flagIDIsNumber
	} else {
		r.idLen = uint16(len(c.ID))
	}
	return r, nil
}

// add stores r (and c's strings and attributes) in sh; the caller holds the
// write lock or owns sh exclusively.
func (sh *shard) add(r record, c Customer) {
	if len(sh.arena)+int(r.idLen)+int(r.nameLen) > 1<<32-1 {
		sh.compact()
	}
	r.off = uint32(len(sh.arena))
	if r.idLen > 0 {
		sh.arena = append(sh.arena, c.ID...)
	}
	sh.arena = append(sh.arena, c.Name...)
	if i, ok := sh.index[r.key]; ok {
		old := sh.recs[i]
		sh.dead += int(old.idLen) + int(old.nameLen)
		sh.recs[i] = r
	} else {
		sh.index[r.key] = int32(len(sh.recs))
		sh.recs = append(sh.recs, r)
	}
	if len(c.Attributes) > 0 {
		if sh.attrs == nil {
			sh.attrs = make(map[uint64]map[string]string)
		}
		sh.attrs[r.key] = maps.Clone(c.Attributes)
	} else if sh.attrs != nil {
		delete(sh.attrs, r.key)
	}
}

// remove deletes key from sh by moving the last record into its slot.
func (sh *shard) remove(key uint64) bool {
	i, ok := sh.index[key]
	if !ok {
		return false
	}
	old := sh.recs[i]
	sh.dead += int(old.idLen) + int(old.nameLen)
	last := len(sh.recs) - 1
	if int(i) != last {
		sh.recs[i] = sh.recs[last]
		sh.index[sh.recs[i].key] = i
	}
	sh.recs = sh.recs[:last]
	delete(sh.index, key)
	delete(sh.attrs, key)
	return true
}

// compact rewrites the arena without dead bytes. It allocates a new arena
// rather than moving bytes in place, because strings already handed out were
// copied but a concurrent reader may still hold the old slice.
func (sh *shard) compact() {
	live := len(sh.arena) - sh.dead
	arena := make([]byte, 0, live+live/4)
	for i := range sh.recs {
		r := &sh.recs[i]
		n := int(r.idLen) + int(r.nameLen)
		off := len(arena)
		arena = append(arena, sh.arena[r.off:int(r.off)+n]...)
		r.off = uint32(off)
	}
	sh.arena, sh.dead = arena, 0
}

// Put implements Store.
func (m *MemStore) Put(_ context.Context, c Customer) error {
	r, err := m.encode(c)
	if err != nil {
		return fmt.Errorf("crm: put: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	sh := &m.snap.Load().shards[shardOf(r.key)]
	sh.mu.Lock()
	sh.add(r, c)
	if sh.dead > 64<<10 && sh.dead > len(sh.arena)/2 {
		sh.compact()
	}
	sh.mu.Unlock()
	return nil
}

// Delete implements Store.
func (m *MemStore) Delete(_ context.Context, number string) error {
	key, err := canonKey(number)
	if err != nil {
		return fmt.Errorf("crm: delete: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	sh := &m.snap.Load().shards[shardOf(key)]
	sh.mu.Lock()
	ok := sh.remove(key)
	sh.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	return nil
}

// Replace implements Store. The new set is built without any lock held, so
// lookups and live-fallback cache writes go on at full speed during a reload.
func (m *MemStore) Replace(ctx context.Context, all iter.Seq2[Customer, error]) error {
	next := newSnapshot()
	n := 0
	for c, err := range all {
		if err != nil {
			return fmt.Errorf("crm: replace: %w", err)
		}
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("crm: replace: %w", err)
			}
		}
		r, err := m.encode(c)
		if err != nil {
			return fmt.Errorf("crm: replace: %w", err)
		}
		next.shards[shardOf(r.key)].add(r, c)
	}
	for i := range next.shards {
		next.shards[i].trim()
	}
	m.writeMu.Lock()
	m.snap.Store(next)
	m.writeMu.Unlock()
	return nil
}

// trim gives back the slack that growing by appends left, once a full load
// knows its final size: about a third of the store's memory at a million
// customers.
func (sh *shard) trim() {
	sh.recs = slices.Clip(sh.recs)
	if cap(sh.recs) > len(sh.recs)+len(sh.recs)/8 {
		sh.recs = append([]record(nil), sh.recs...)
	}
	if cap(sh.arena) > len(sh.arena)+len(sh.arena)/8 {
		sh.arena = append([]byte(nil), sh.arena...)
	}
	index := make(map[uint64]int32, len(sh.recs))
	for k, v := range sh.index {
		index[k] = v
	}
	sh.index = index
}

// Len implements Store.
func (m *MemStore) Len(context.Context) (int, error) {
	s := m.snap.Load()
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.recs)
		sh.mu.RUnlock()
	}
	return n, nil
}

// interner maps the few distinct tier and region names to small integers.
// It only grows; readers see an immutable slice swapped atomically.
type interner struct {
	mu   sync.Mutex
	ids  map[string]uint16
	list atomic.Pointer[[]string]
}

func (d *interner) init() {
	d.ids = map[string]uint16{"": 0}
	l := []string{""}
	d.list.Store(&l)
}

func (d *interner) names() []string { return *d.list.Load() }

var errTooManyNames = errors.New("crm: more than 65535 distinct tier/region names")

func (d *interner) intern(s string) (uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[s]; ok {
		return id, nil
	}
	old := *d.list.Load()
	if len(old) > maxField {
		return 0, errTooManyNames
	}
	l := make([]string, len(old), len(old)+1)
	copy(l, old)
	l = append(l, s)
	id := uint16(len(old))
	d.ids[s] = id
	d.list.Store(&l)
	return id, nil
}
