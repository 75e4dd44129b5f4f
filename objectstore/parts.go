package objectstore

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime/debug"
	"strings"
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
// moment a buffer is filled until its upload (and gzip check) is done.
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

// part is one filled buffer, shared by its upload and the gzip check; the
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

// gzipCheck decompresses a .gz object's parts in order as they stream
// past, so a truncated or corrupt stream is found before anything is
// committed. Velero's host ends a failed stream with a clean EOF: the
// gzip trailer (CRC-32 and length) is what tells the difference.
type gzipCheck struct {
	parts chan *part
	cur   *part
	off   int
	done  chan error
}

func newGzipCheck(depth int) *gzipCheck {
	g := &gzipCheck{parts: make(chan *part, depth), done: make(chan error, 1)}
	go func() {
		zr, err := gzip.NewReader(g)
		if err == nil {
			_, err = io.Copy(io.Discard, zr)
		}
		for { // release whatever is still queued
			if g.cur != nil {
				g.cur.release()
				g.cur = nil
			}
			p, ok := <-g.parts
			if !ok {
				break
			}
			g.cur = p
		}
		g.done <- err
	}()
	return g
}

// Read feeds the decompressor from the queued parts.
func (g *gzipCheck) Read(p []byte) (int, error) {
	for g.cur == nil || g.off == len(g.cur.data) {
		if g.cur != nil {
			g.cur.release()
			g.cur = nil
		}
		next, ok := <-g.parts
		if !ok {
			return 0, io.EOF
		}
		g.cur, g.off = next, 0
	}
	n := copy(p, g.cur.data[g.off:])
	g.off += n
	return n, nil
}

func (g *gzipCheck) add(p *part) { g.parts <- p }

// end says no more parts come; the reader calls it however it stops, so
// the check's goroutine always ends, failed uploads included.
func (g *gzipCheck) end() { close(g.parts) }

// result waits for the check's verdict once the reader has ended it.
func (g *gzipCheck) result(total int64) error {
	err := <-g.done
	if err == nil {
		return nil
	}
	what := "is corrupt"
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		what = "ends before its gzip trailer (the stream from Velero was cut short)"
	case errors.Is(err, gzip.ErrChecksum):
		what = "fails its gzip checksum"
	case errors.Is(err, gzip.ErrHeader):
		what = "is not a gzip stream"
	}
	return fmt.Errorf("%w: the stream (%d bytes received) %s: %v", ErrTruncated, total, what, err)
}

func isGzipKey(key string) bool { return strings.HasSuffix(key, ".gz") }

// fullHash keeps a whole-object checksum when S3 needs one (CRC64NVME
// multipart uploads are FULL_OBJECT only).
func fullHash(alg string) hash.Hash {
	if alg == "CRC64NVME" {
		return newHash(alg)
	}
	return nil
}
