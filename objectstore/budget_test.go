package objectstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Many takers of mixed sizes never hold more than the capacity together,
// and every one of them is served.
func TestBudgetNeverExceeded(t *testing.T) {
	b := newBudget(16 << 20)
	var inUse, most atomic.Int64
	var wg sync.WaitGroup
	sizes := []int{512 << 10, 5 << 20, 8 << 20, 16 << 20}
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				n := sizes[rand.IntN(len(sizes))]
				buf, err := b.get(context.Background(), n)
				if !assert.NoError(t, err) {
					return
				}
				assert.Len(t, buf, n)
				now := inUse.Add(int64(n))
				for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
				}
				inUse.Add(-int64(n))
				b.put(buf)
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, most.Load(), int64(16<<20))
	assert.LessOrEqual(t, b.peak, int64(16<<20), "given out and kept for reuse")
	assert.Zero(t, b.held)
	assert.Empty(t, b.queue)
}

// The queue is served in order: a large request is not overtaken by
// small ones that would fit meanwhile.
func TestBudgetFirstComeFirstServed(t *testing.T) {
	b := newBudget(10 << 20)
	ctx := context.Background()
	first, err := b.get(ctx, 6<<20)
	require.NoError(t, err)
	large := make(chan []byte)
	go func() { buf, _ := b.get(ctx, 8<<20); large <- buf }()
	waitQueued(b, 1)
	small := make(chan []byte)
	go func() { buf, _ := b.get(ctx, 2<<20); small <- buf }() // would fit now
	waitQueued(b, 2)
	b.put(first)
	got := <-large
	assert.Len(t, got, 8<<20)
	b.put(got)
	assert.Len(t, <-small, 2<<20)
}

// A request larger than the whole budget is told so (the caller spools),
// also one that waited while a new Init shrank the budget; a cancelled
// wait leaves the queue.
func TestBudgetOverAndCancel(t *testing.T) {
	b := newBudget(10 << 20)
	_, err := b.get(context.Background(), 11<<20)
	assert.ErrorIs(t, err, errOverBudget)

	held, err := b.get(context.Background(), 10<<20)
	require.NoError(t, err)
	waited := make(chan error)
	go func() { _, err := b.get(context.Background(), 8<<20); waited <- err }()
	waitQueued(b, 1)
	b.resize(6 << 20)
	assert.ErrorIs(t, <-waited, errOverBudget)

	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { _, err := b.get(ctx, 4<<20); waited <- err }()
	waitQueued(b, 1)
	cancel(errors.New("upload failed"))
	assert.EqualError(t, <-waited, "upload failed")
	assert.Empty(t, b.queue)
	b.put(held)
	assert.Zero(t, b.held)
	assert.LessOrEqual(t, b.idleN, int64(6<<20), "nothing kept beyond the new capacity")
}

// Buffers given back are reused while transfers run, dropped when none
// does; the hook hears every new budget.
func TestBudgetReuseAndHook(t *testing.T) {
	b := newBudget(16 << 20)
	end := b.begin()
	buf, err := b.get(context.Background(), 8<<20)
	require.NoError(t, err)
	buf[0] = 42
	b.put(buf)
	again, err := b.get(context.Background(), 8<<20)
	require.NoError(t, err)
	assert.Equal(t, byte(42), again[0], "the same buffer")
	b.put(again)
	assert.Equal(t, int64(8<<20), b.idleN)
	end()
	end()
	assert.Zero(t, b.active)
	assert.Zero(t, b.idleN, "nothing kept once no transfer runs")
	buf, err = b.get(context.Background(), 8<<20)
	require.NoError(t, err)
	b.put(buf)
	assert.Zero(t, b.idleN, "nor given back after")

	var heard []int64
	b.onResize = func(c int64) { heard = append(heard, c) }
	b.resize(32 << 20)
	b.resize(32 << 20)
	b.resize(12 << 20)
	assert.Equal(t, []int64{32 << 20, 12 << 20}, heard)
}

func waitQueued(b *budget, n int) {
	for {
		b.mu.Lock()
		l := len(b.queue)
		b.mu.Unlock()
		if l >= n {
			return
		}
		runtime.Gosched()
	}
}

// A spool file is 0600, has no name in the folder, and gives its space
// back when released; a part that does not fit in the free space fails
// before anything is written, naming the folder, the bytes and the fix.
func TestSpoolFile(t *testing.T) {
	dir := t.TempDir()
	f, err := newSpoolFile(dir, 7, 1<<20)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Zero(t, st.Sys().(*syscall.Stat_t).Nlink, "unlinked at once")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Equal(t, int64(1<<20), spoolReserved.Load())
	f.release()
	assert.Zero(t, spoolReserved.Load())

	_, err = newSpoolFile(dir, 812, 1<<60)
	require.Error(t, err)
	for _, want := range []string{"spool part 812", "spoolDir " + dir, "1152921504606846976 bytes needed", "give spoolDir more room", "raise memoryBudget to 1073741824GiB"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Zero(t, spoolReserved.Load())

	_, err = newSpoolFile("/nonexistent/spool", 1, 1<<20)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "/nonexistent/spool"), err.Error())
	assert.Error(t, checkSpoolDir("/nonexistent/spool"))
	assert.NoError(t, checkSpoolDir(dir))
}
