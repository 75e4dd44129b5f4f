package objectstore

import (
	"io"
	"sync"
)

// plainRing is the plaintext an encrypted upload's body check may lag behind.
const plainRing = 256 << 10

// plainPipe hands an encrypted upload's plaintext to its body check
// through a fixed ring, so that reading and sealing go on while the check
// catches up on the other core; the writer waits only when the check is a
// whole ring behind. Once the check has its verdict (it stopped reading),
// writes are dropped.
type plainPipe struct {
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	start, n int
	wclosed  bool // nothing more is written: Read ends at io.EOF
	rclosed  bool // the check stopped reading
}

func newPlainPipe(size int) *plainPipe {
	p := &plainPipe{buf: make([]byte, size)}
	p.cond.L = &p.mu
	return p
}

// Write copies b into the ring, waiting for room; it never fails.
func (p *plainPipe) Write(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 && !p.wclosed {
		for p.n == len(p.buf) && !p.rclosed {
			p.cond.Wait()
		}
		if p.rclosed {
			return
		}
		end := (p.start + p.n) % len(p.buf)
		k := min(len(b), len(p.buf)-p.n, len(p.buf)-end)
		copy(p.buf[end:end+k], b[:k])
		p.n += k
		b = b[k:]
		p.cond.Broadcast()
	}
}

func (p *plainPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && !p.wclosed {
		p.cond.Wait()
	}
	if p.n == 0 {
		return 0, io.EOF
	}
	k := min(len(b), p.n, len(p.buf)-p.start)
	copy(b, p.buf[p.start:p.start+k])
	p.start = (p.start + k) % len(p.buf)
	p.n -= k
	p.cond.Broadcast()
	return k, nil
}

// closeWrite ends the plaintext: the check reads io.EOF after the rest.
func (p *plainPipe) closeWrite() {
	p.mu.Lock()
	p.wclosed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// closeRead says the check stopped reading: writers no longer wait.
func (p *plainPipe) closeRead() {
	p.mu.Lock()
	p.rclosed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}
