package routing

// indexedHeap is a binary min-heap whose elements remember their own
// position, so that a call that abandons or an agent that leaves the idle
// pool is removed in O(log n) instead of by scanning the queue.
type indexedHeap[T any] struct {
	s    []T
	less func(a, b T) bool
	pos  func(T) *int
}

func newHeap[T any](less func(a, b T) bool, pos func(T) *int) *indexedHeap[T] {
	return &indexedHeap[T]{less: less, pos: pos}
}

func (h *indexedHeap[T]) Len() int { return len(h.s) }

func (h *indexedHeap[T]) Top() (T, bool) {
	if len(h.s) == 0 {
		var zero T
		return zero, false
	}
	return h.s[0], true
}

func (h *indexedHeap[T]) Push(x T) {
	h.s = append(h.s, x)
	i := len(h.s) - 1
	*h.pos(x) = i
	h.up(i)
}

func (h *indexedHeap[T]) Pop() (T, bool) {
	if len(h.s) == 0 {
		var zero T
		return zero, false
	}
	x := h.s[0]
	h.Remove(x)
	return x, true
}

// Remove deletes x if it is in the heap; it reports whether it was.
func (h *indexedHeap[T]) Remove(x T) bool {
	i := *h.pos(x)
	if i < 0 || i >= len(h.s) {
		return false
	}
	last := len(h.s) - 1
	if i != last {
		h.swap(i, last)
	}
	h.s = h.s[:last]
	*h.pos(x) = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	return true
}

func (h *indexedHeap[T]) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	*h.pos(h.s[i]) = i
	*h.pos(h.s[j]) = j
}

func (h *indexedHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.s[i], h.s[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *indexedHeap[T]) down(i int) bool {
	start := i
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(h.s[r], h.s[l]) {
			m = r
		}
		if !h.less(h.s[m], h.s[i]) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}
