package campaign

import (
	"container/heap"
	"time"
)

// The runner picks contacts from heaps rather than scanning the list: one
// ready heap per calling window (fewest attempts first, then list order)
// and one heap of contacts waiting for a retry (earliest first). Entries
// are invalidated lazily: an entry whose generation no longer matches its
// contact's is dropped when it surfaces.

type readyItem struct {
	c   *contactEntry
	gen uint32
}

// readyHeap orders pending contacts of one window by attempts, then list
// position.
type readyHeap []readyItem

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	a, b := h[i].c, h[j].c
	if a.p.Attempts != b.p.Attempts {
		return a.p.Attempts < b.p.Attempts
	}
	return a.idx < b.idx
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)   { *h = append(*h, x.(readyItem)) }
func (h *readyHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = readyItem{}
	*h = old[:len(old)-1]
	return it
}

// top drops stale entries and returns the first valid pending contact,
// without removing it.
func (h *readyHeap) top() *contactEntry {
	for h.Len() > 0 {
		it := (*h)[0]
		if it.gen == it.c.gen && it.c.p.State == Pending {
			return it.c
		}
		heap.Pop(h)
	}
	return nil
}

type waitItem struct {
	c   *contactEntry
	gen uint32
	at  time.Time
}

// waitHeap orders contacts in RetryWait by due time.
type waitHeap []waitItem

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(waitItem)) }
func (h *waitHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = waitItem{}
	*h = old[:len(old)-1]
	return it
}

// due pops the contacts whose retry time has come.
func (h *waitHeap) due(now time.Time, yield func(*contactEntry)) {
	for h.Len() > 0 {
		it := (*h)[0]
		if it.gen != it.c.gen || it.c.p.State != RetryWait {
			heap.Pop(h)
			continue
		}
		if it.at.After(now) {
			return
		}
		heap.Pop(h)
		yield(it.c)
	}
}

// next returns the earliest due time of a waiting contact (zero if none).
func (h *waitHeap) next() time.Time {
	for h.Len() > 0 {
		it := (*h)[0]
		if it.gen == it.c.gen && it.c.p.State == RetryWait {
			return it.at
		}
		heap.Pop(h)
	}
	return time.Time{}
}
