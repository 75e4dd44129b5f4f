package objectstore

import (
	"context"
	"errors"
	"slices"
	"sync"

	"example.io/velero-plugin-s3csi/config"
)

// buffers is the process's one account of transfer memory: every upload's
// parts held in memory (which the gzip or JSON check reads in place) and
// every download's read-ahead take their bytes from it and give them back.
// Its capacity is memoryBudget, set by the latest Init: Velero runs one
// plugin process for all its transfers, and they share one limit.
var buffers = newBudget(config.DefaultMemoryBudget)

// errOverBudget says a request is larger than the whole budget: the
// caller spools instead of waiting for what can never come.
var errOverBudget = errors.New("larger than memoryBudget")

// budget hands out byte buffers so that those given out plus those kept
// for reuse never exceed capacity. Requests that do not fit wait in one
// first-in, first-out queue: a large part is not overtaken forever by
// small ones. No transfer waits while it holds buffers that only its own
// progress would free (see upload.newPart), so every wait ends when parts in
// flight are stored or Velero reads a download's chunks.
type budget struct {
	mu       sync.Mutex
	capacity int64
	held     int64            // bytes given out
	idle     map[int][][]byte // given back and kept for reuse, by size
	idleN    int64            // bytes in idle
	queue    []*budgetWait
	active   int   // transfers running: while there are none, nothing is kept
	peak     int64 // most bytes given out and kept at once (tests read it)
	onResize func(capacity int64)
}

type budgetWait struct {
	n    int
	done chan struct{} // closed once decided
	buf  []byte        // a reused buffer, or nil: allocate
	ok   bool          // false: larger than the capacity became
}

func newBudget(capacity int64) *budget {
	return &budget{capacity: capacity, idle: map[int][][]byte{}}
}

// OnMemoryBudget calls f with the budget now and with every new one an
// Init sets. main.go uses it to size Go's soft memory limit when the
// operator set none; this package changes no runtime setting itself.
func OnMemoryBudget(f func(capacity int64)) {
	b := buffers
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onResize = f
	f(b.capacity)
}

// resize sets the capacity. Buffers kept for reuse beyond it are dropped
// at once; those given out come back as their transfers go on.
func (b *budget) resize(capacity int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if capacity == b.capacity {
		return
	}
	b.capacity = capacity
	b.evictLocked(capacity - b.held)
	b.grantLocked()
	if b.onResize != nil {
		b.onResize(capacity)
	}
}

// size is the capacity now.
func (b *budget) size() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.capacity
}

// get returns a buffer of n bytes, waiting in turn until the budget has
// room; errOverBudget when n is more than the whole capacity; the
// context's cause when it ends first.
func (b *budget) get(ctx context.Context, n int) ([]byte, error) {
	b.mu.Lock()
	if int64(n) > b.capacity {
		b.mu.Unlock()
		return nil, errOverBudget
	}
	if len(b.queue) == 0 {
		if buf, ok := b.takeLocked(n); ok {
			b.mu.Unlock()
			return sized(buf, n), nil
		}
	}
	w := &budgetWait{n: n, done: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		b.mu.Lock()
		if i := slices.Index(b.queue, w); i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
			b.grantLocked() // those behind it may fit now
			b.mu.Unlock()
			return nil, context.Cause(ctx)
		}
		b.mu.Unlock()
		<-w.done // decided meanwhile: give back what it got
		if w.ok {
			b.giveBack(w.buf, n)
		}
		return nil, context.Cause(ctx)
	}
	if !w.ok {
		return nil, errOverBudget
	}
	return sized(w.buf, n), nil
}

// tryGet returns a buffer of n bytes if the budget has room now and
// nobody is waiting.
func (b *budget) tryGet(n int) ([]byte, bool) {
	b.mu.Lock()
	if len(b.queue) > 0 {
		b.mu.Unlock()
		return nil, false
	}
	buf, ok := b.takeLocked(n)
	b.mu.Unlock()
	if !ok {
		return nil, false
	}
	return sized(buf, n), true
}

// sized is buf, or a new buffer when there is none to reuse; allocating
// happens outside the lock.
func sized(buf []byte, n int) []byte {
	if buf == nil {
		return make([]byte, n)
	}
	return buf[:n]
}

// put gives a buffer from get back.
func (b *budget) put(buf []byte) { b.giveBack(buf, cap(buf)) }

// giveBack returns n bytes given out, and buf (nil: never allocated) for
// reuse while transfers run and the kept buffers fit.
func (b *budget) giveBack(buf []byte, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= int64(n)
	if buf != nil && b.active > 0 && b.held+b.idleN+int64(n) <= b.capacity {
		b.idle[n] = append(b.idle[n], buf[:n])
		b.idleN += int64(n)
	}
	b.grantLocked()
}

// begin counts a transfer in; the end it returns counts it out. When the
// last transfer ends the kept buffers are dropped: an idle plugin gives
// its memory back.
func (b *budget) begin() (end func()) {
	b.mu.Lock()
	b.active++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.active--; b.active == 0 {
				b.evictLocked(0)
			}
		})
	}
}

// takeLocked gives out n bytes if they fit: a kept buffer of that size,
// or room for a new one made by dropping kept buffers of other sizes.
func (b *budget) takeLocked(n int) ([]byte, bool) {
	if b.held+int64(n) > b.capacity {
		return nil, false
	}
	var buf []byte
	if kept := b.idle[n]; len(kept) > 0 {
		buf = kept[len(kept)-1]
		kept[len(kept)-1] = nil
		b.idle[n] = kept[:len(kept)-1]
		b.idleN -= int64(n)
	} else {
		b.evictLocked(b.capacity - b.held - int64(n))
	}
	b.held += int64(n)
	b.peak = max(b.peak, b.held+b.idleN)
	return buf, true
}

// evictLocked drops kept buffers until at most room bytes are kept.
func (b *budget) evictLocked(room int64) {
	for size, kept := range b.idle {
		for len(kept) > 0 && b.idleN > max(room, 0) {
			kept[len(kept)-1] = nil // let the collector have it
			kept = kept[:len(kept)-1]
			b.idleN -= int64(size)
		}
		if len(kept) == 0 {
			delete(b.idle, size)
		} else {
			b.idle[size] = kept
		}
	}
}

// grantLocked serves the queue in order while its head fits.
func (b *budget) grantLocked() {
	for len(b.queue) > 0 {
		w := b.queue[0]
		if int64(w.n) > b.capacity {
			w.ok = false
		} else if w.buf, w.ok = b.takeLocked(w.n); !w.ok {
			return
		}
		b.queue = b.queue[1:]
		close(w.done)
	}
}
