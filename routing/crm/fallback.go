package crm

import (
	"context"
	"errors"
	"iter"
)

// Fallback is the customer store of a cluster node: Shared (Redis, one set
// for every node, where the live CRM's answers are cached for all) backed by
// Local (this node's memory copy of the same imports). Lookups read Shared
// and fall back to Local only when Shared fails — so when Redis is down a
// diamond caller is still recognised, not degraded to the default tier.
// Writes go to both; a failed Shared write is returned after Local is
// updated, so the node's own copy is never behind — or, when Report is
// set, handed to Report and not returned (a node starting while Redis is
// down must still load its customers).
type Fallback struct {
	Shared, Local Store
	Report        func(op string, err error)
}

func (f Fallback) shared(op string, err error) error {
	if err != nil && f.Report != nil {
		f.Report(op, err)
		return nil
	}
	return err
}

var _ Store = Fallback{}

// Get implements Store.
func (f Fallback) Get(ctx context.Context, number string) (Customer, error) {
	c, err := f.Shared.Get(ctx, number)
	if err == nil || errors.Is(err, ErrNotFound) {
		return c, err
	}
	if lc, lerr := f.Local.Get(ctx, number); lerr == nil {
		return lc, nil
	}
	return c, err
}

// Put implements Store.
func (f Fallback) Put(ctx context.Context, c Customer) error {
	if err := f.Local.Put(ctx, c); err != nil {
		return err
	}
	return f.shared("put", f.Shared.Put(ctx, c))
}

// Delete implements Store.
func (f Fallback) Delete(ctx context.Context, number string) error {
	lerr := f.Local.Delete(ctx, number)
	if err := f.Shared.Delete(ctx, number); err != nil && !errors.Is(err, ErrNotFound) {
		if err := f.shared("delete", err); err != nil {
			return err
		}
	}
	return lerr
}

// Len implements Store (the shared count, else the local one).
func (f Fallback) Len(ctx context.Context) (int, error) {
	if n, err := f.Shared.Len(ctx); err == nil {
		return n, nil
	}
	return f.Local.Len(ctx)
}

type item struct {
	c   Customer
	err error
}

// Replace implements Store: one pass over all feeds both stores. Local gets
// the whole set even when Shared gives up half-way (Redis went down), and
// keeps its previous set when all fails.
func (f Fallback) Replace(ctx context.Context, all iter.Seq2[Customer, error]) error {
	ch := make(chan item, 1024)
	localDone := make(chan error, 1)
	go func() {
		localDone <- f.Local.Replace(ctx, func(yield func(Customer, error) bool) {
			for it := range ch {
				if !yield(it.c, it.err) {
					break
				}
			}
			for range ch { // the producer must never block on a store that stopped
			}
		})
	}()
	// Pulled, not ranged: Shared may stop pulling early (Redis went down)
	// or never start, and Local must still get every customer.
	next, stop := iter.Pull2(all)
	defer stop()
	srcDone := false
	pull := func() (Customer, error, bool) {
		if srcDone {
			return Customer{}, nil, false
		}
		c, err, ok := next()
		if !ok || err != nil {
			srcDone = true
		}
		if ok {
			ch <- item{c, err}
		}
		return c, err, ok
	}
	sharedErr := f.Shared.Replace(ctx, func(yield func(Customer, error) bool) {
		for {
			c, err, ok := pull()
			if !ok || !yield(c, err) || err != nil {
				return
			}
		}
	})
	for {
		if _, _, ok := pull(); !ok {
			break
		}
	}
	close(ch)
	localErr := <-localDone
	if localErr != nil {
		return localErr
	}
	return f.shared("replace", sharedErr)
}
