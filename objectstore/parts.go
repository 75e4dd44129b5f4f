package objectstore

import (
	"context"
	"errors"
	"hash"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"example.io/velero-plugin-s3csi/config"
)

// partTier is how many parts share one size before the size doubles:
// with the 5 MiB minimum, 10,000 parts still hold more than 5 TiB.
const partTier = 800

// partSize is the size of part n (1-based) for a first part size of base:
// base for the first partTier parts, then doubling every partTier parts,
// never above S3's 5 GiB. Small backups keep small parts (low memory);
// an object of unknown size up to 5 TiB still fits in 10,000 parts.
func partSize(base int64, n int) int64 {
	size := base
	for tier := (n - 1) / partTier; tier > 0 && size < config.MaxPartSize; tier-- {
		size *= 2
	}
	return min(size, config.MaxPartSize)
}

// MemoryOverhead is the Go heap a transfer needs beside its part buffers
// (gRPC messages, HTTP buffers, read-ahead). With the binary's own pages
// the process stays within part size × (concurrency + 1) + 64 MiB.
const MemoryOverhead = 24 << 20

var memLimit struct {
	sync.Mutex
	bytes int64
}

// raiseMemoryLimit makes the Go runtime's soft memory limit at least
// partSize × (concurrency + 1) + MemoryOverhead, the bound a transfer
// keeps to. Without it the collector lets the heap grow to twice the live
// part buffers before it runs (GOGC=100), and the process's RSS with it.
func raiseMemoryLimit(partSize int64, concurrency int) {
	want := partSize*int64(concurrency+1) + MemoryOverhead
	memLimit.Lock()
	defer memLimit.Unlock()
	if want > memLimit.bytes {
		memLimit.bytes = want
		debug.SetMemoryLimit(want)
	}
}

// bufPool bounds the part buffers alive at once: a token is held from the
// moment a buffer is filled until its upload (and body check) is done.
type bufPool struct {
	tokens chan struct{}
	free   chan []byte
}

func newBufPool(n int) *bufPool {
	return &bufPool{tokens: make(chan struct{}, n), free: make(chan []byte, n)}
}

func (b *bufPool) get(ctx context.Context, size int64) ([]byte, error) {
	select {
	case b.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	select {
	case buf := <-b.free:
		if int64(cap(buf)) >= size {
			return buf[:size], nil
		}
	default:
	}
	return make([]byte, size), nil
}

func (b *bufPool) put(buf []byte) {
	select {
	case b.free <- buf:
	default:
	}
	<-b.tokens
}

// part is one filled buffer, shared by its upload and the body check; the
// buffer goes back to the pool when both have released it.
type part struct {
	num  int
	data []byte
	buf  []byte
	refs atomic.Int32
	pool *bufPool
}

func (p *part) release() {
	if p.refs.Add(-1) == 0 {
		p.pool.put(p.buf)
	}
}

// readChunk caps each read of the host's stream: Velero's StreamReadCloser
// buffers until it can fill the whole slice asked for, so a 16 MiB read
// would cost another 16-32 MiB inside the framework.
const readChunk = 128 << 10

// fill reads until buf is full or the body ends; eof reports the end.
func fill(body io.Reader, buf []byte, timer *stallTimer, tr *transfer) (n int, eof bool, err error) {
	for n < len(buf) {
		end := min(n+readChunk, len(buf))
		timer.kick()
		m, err := body.Read(buf[n:end])
		n += m
		tr.add(m)
		switch {
		case errors.Is(err, io.EOF):
			return n, true, nil
		case err != nil:
			return n, false, err
		case m == 0:
			continue
		}
	}
	return n, false, nil
}

// fullHash keeps a whole-object checksum when S3 needs one (CRC64NVME
// multipart uploads are FULL_OBJECT only).
func fullHash(alg string) hash.Hash {
	if alg == "CRC64NVME" {
		return newHash(alg)
	}
	return nil
}
