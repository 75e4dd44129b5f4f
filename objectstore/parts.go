package objectstore

import (
	"context"
	"errors"
	"hash"
	"io"
	"sync/atomic"

	"example.io/velero-plugin-s3csi/config"
)

// partTier is how many parts share one size before the size doubles:
// with the 5 MiB minimum, 10,000 parts still hold more than 5 TiB.
const partTier = 800

// partSize is the size of part n (1-based) for a first part size of base:
// base for the first partTier parts, then doubling every partTier parts,
// never above S3's 5 GiB. Small backups keep small parts; an object of
// unknown size up to 5 TiB still fits in 10,000 parts.
func partSize(base int64, n int) int64 {
	size := base
	for tier := (n - 1) / partTier; tier > 0 && size < config.MaxPartSize; tier-- {
		size *= 2
	}
	return min(size, config.MaxPartSize)
}

// planPart is the plan for part n of an upload: its size, and whether it
// is spooled to a file because it is larger than the whole memory budget.
// A part that fits waits for its bytes in the budget's queue, so as parts
// grow fewer of them are in memory at once, down to one.
func planPart(base int64, n int, budget int64) (size int64, spool bool) {
	size = partSize(base, n)
	return size, size > budget
}

// part is one part of an upload, in memory (data) or spooled (file). Its
// upload and the body check each hold a reference; the last to let go
// gives its memory or file back, and its slot in the upload.
type part struct {
	num  int
	size int64
	last bool         // the body ends with this part
	data []byte       // in memory: from buffers, or smallBuffers for a small body
	from *budget      // the account data came from
	file *spoolFile   // spooled
	sum  checksum     // of a spooled part, computed as it was written
	refs atomic.Int32 // 0 for a part that holds nothing (an empty body)
	free func()       // gives the slot back
}

func (p *part) release() {
	if p.refs.Add(-1) != 0 {
		return
	}
	if p.data != nil {
		p.from.put(p.data)
	}
	if p.file != nil {
		p.file.release()
	}
	p.free()
}

// ReadAt reads the part's bytes, from memory or from its file.
func (p *part) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	want := len(b)
	b = b[:min(int64(len(b)), p.size-off)]
	var n int
	var err error
	if p.file != nil {
		n, err = p.file.ReadAt(b, off)
	} else {
		n = copy(b, p.data[off:p.size])
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// body is a fresh reader of the whole part: every attempt to send it
// starts from the first byte, a spooled part's from its file.
func (p *part) body() io.ReadSeeker { return io.NewSectionReader(p, 0, p.size) }

// checksum is the part's value of the configured checksum.
func (p *part) checksum(alg string) checksum {
	if p.file != nil {
		return p.sum
	}
	return sum(alg, p.data[:p.size])
}

// readChunk caps each read of the host's stream: Velero's StreamReadCloser
// buffers until it can fill the whole slice asked for (in a buffer that
// grows to twice the read), so a 16 MiB read would cost another 16-32 MiB
// inside the framework, per upload.
const readChunk = 32 << 10

// spoolChunk is the buffer a spooled part is copied through, per upload.
const spoolChunk = 64 << 10

// source is Velero's stream with one byte of lookahead, so that a full
// part is known to be the last one before the next part takes memory.
type source struct {
	ctx    context.Context // the upload's: once it ends, reading stops
	r      io.Reader
	timer  *stallTimer
	count  func(int) // bytes read of the body, for progress
	peeked []byte    // 0 or 1 byte read ahead
	one    [1]byte
}

// fill reads until buf is full or the body ends (eof), starting with the
// byte atEnd read ahead. A full buf says nothing of the end: atEnd tells.
func (s *source) fill(buf []byte) (n int, eof bool, err error) {
	n = copy(buf, s.peeked)
	s.peeked = nil
	for n < len(buf) {
		if err := context.Cause(s.ctx); err != nil {
			return n, false, err
		}
		end := min(n+readChunk, len(buf))
		s.timer.kick()
		m, err := s.r.Read(buf[n:end])
		n += m
		s.count(m)
		switch {
		case errors.Is(err, io.EOF):
			return n, true, nil
		case err != nil:
			return n, false, err
		}
	}
	return n, false, nil
}

// atEnd reads one byte ahead: true when the body has ended.
func (s *source) atEnd() (bool, error) {
	for len(s.peeked) == 0 {
		s.timer.kick()
		m, err := s.r.Read(s.one[:])
		s.count(m)
		if m == 1 {
			s.peeked = s.one[:]
			return false, nil
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// fullHash keeps a whole-object checksum when S3 needs one (CRC64NVME
// multipart uploads are FULL_OBJECT only).
func fullHash(alg string) hash.Hash {
	if alg == "CRC64NVME" {
		return newHash(alg)
	}
	return nil
}
