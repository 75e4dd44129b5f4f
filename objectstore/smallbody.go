package objectstore

import (
	"context"
	"fmt"
)

// Most of Velero's objects are small (velero-backup.json, the logs, the
// *.json.gz lists, a small namespace's tarball), and each comes in a
// PutObject of its own, one after another. A body is therefore first read
// into a small buffer that doubles as it fills, from smallFirst up to half
// a part: a body that ends in it costs at most twice its size, not a
// part's memory, nor the time to allocate and zero one (8 MiB by default,
// which the budget drops again once no transfer runs, so every one of
// Velero's small puts paid it). A body that goes on moves into its first
// part the usual way (newPart), its first bytes copied over.
//
// Small buffers come from smallBuffers, an account of their own outside
// memoryBudget, and never wait for it: a body that finds it used up takes
// a part at once. A transfer holding a small buffer therefore waits only
// for memoryBudget, where it holds nothing, so no two transfers wait on
// each other. smallBudget is part of the memory that DESIGN.md's bound
// allows beside the parts.
var smallBuffers = newBudget(smallBudget)

const (
	smallFirst  = 32 << 10 // the first small buffer
	smallMax    = 4 << 20  // the largest small buffer
	smallBudget = 8 << 20  // small buffers of all transfers at once
)

// smallLimit is the largest small buffer for parts of partSize bytes: no
// more than half a part, so that a body about a part's size takes one.
func smallLimit(partSize int64) int {
	limit := smallFirst
	for int64(limit*2) <= min(partSize/2, smallMax) {
		limit *= 2
	}
	return limit
}

// firstPart reads the body into small buffers while it fits them and
// returns part 1 holding it, filled: a small part when the body ended
// there, else one from newPart, the bytes read so far copied in first.
func (u *upload) firstPart(ctx context.Context, src *source) (p *part, eof bool, err error) {
	var buf []byte
	n, limit := 0, smallLimit(u.s.cfg.PartSize)
	for size := smallFirst; size <= limit; size *= 2 {
		next, ok := smallBuffers.tryGet(size)
		if !ok {
			break
		}
		copy(next, buf[:n])
		if buf != nil {
			smallBuffers.put(buf)
		}
		buf = next
		m, end, err := src.fill(buf[n:])
		n += m
		if err != nil {
			smallBuffers.put(buf)
			return nil, false, fmt.Errorf("read body from Velero: %w", err)
		}
		if end {
			return u.smallPart(ctx, buf, n)
		}
	}
	if buf != nil {
		defer smallBuffers.put(buf)
	}
	src.timer.stop() // waiting for a slot, memory or a spool file is not a stall
	if p, err = u.newPart(ctx, 1); err != nil {
		return nil, false, err
	}
	if eof, err = u.fillPart(src, p, buf[:n]); err != nil {
		p.release()
		return nil, false, err
	}
	return p, eof, nil
}

// smallPart is part 1 holding a whole body of n bytes in buf, a small
// buffer, in the upload's slot until released.
func (u *upload) smallPart(ctx context.Context, buf []byte, n int) (*part, bool, error) {
	select {
	case u.slots <- struct{}{}:
	case <-ctx.Done():
		smallBuffers.put(buf)
		return nil, false, context.Cause(ctx)
	}
	p := &part{num: 1, size: int64(n), from: smallBuffers, free: func() { <-u.slots }}
	p.refs.Store(1)
	if u.full != nil {
		u.full.Write(buf[:n])
	}
	return u.inMemory(p, buf), true, nil
}

// chunkSize is the read-ahead chunk for a download's bytes from off: for
// a small object (velero-backup.json at every backup sync) one buffer of
// its size and one byte, which also reads the end of the body, instead
// of getChunk allocated and zeroed for a few KiB.
func (d *download) chunkSize(off int64) int {
	if !d.sized {
		return getChunk
	}
	return int(min(getChunk, max(d.size-off, 0)+1))
}
