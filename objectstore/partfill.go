package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
)

// spoolDepth is how many spooled parts one upload has at once: one being
// written while the one before is sent.
const spoolDepth = 2

// next returns the next filled part, nil at the end of a body that was
// read whole (and passed its check), or the error that stopped it.
func (u *upload) next(ctx context.Context) (*part, error) {
	select {
	case p, ok := <-u.parts:
		if ok {
			return p, nil
		}
		err := u.readErr
		if err == nil {
			err = u.checkEnd()
		}
		if err != nil {
			return nil, translate("put", u.bucket, u.key, cause(ctx, err))
		}
		return nil, nil
	case <-ctx.Done():
		return nil, translate("put", u.bucket, u.key, context.Cause(ctx))
	}
}

// read fills parts from the host's stream in order and closes out when the
// stream ends. It runs apart from the uploads so a host that stops
// sending is caught by the stall timer instead of blocking the method: the
// whole transfer stalls then, since nothing can ask Velero again.
//
// It waits for memory only while all the upload holds is on its way to
// S3 (see newPart): a full part is known to be the last (one byte read
// ahead) before the next one is asked for, so the first part is sent
// without waiting for the second, and no two uploads wait on each other.
func (u *upload) read(ctx context.Context, body io.Reader, count func(int), out chan<- *part) {
	defer close(out)
	if u.check != nil {
		defer u.check.end()
	}
	timer := u.tr.watch("reading the object from Velero", u.stop)
	defer timer.stop()
	src := &source{ctx: ctx, r: body, timer: timer, count: count}
	for n := 1; ; n++ {
		timer.stop() // waiting for a slot, memory or a spool file is not a stall
		p, eof, err := u.nextPart(ctx, src, n)
		timer.stop() // handing the part on is not reading from Velero either
		if err != nil {
			u.readErr = err
			return
		}
		if p.size == 0 { // only an empty body
			p.release()
			return
		}
		p.last = eof
		if u.check != nil && u.check.readsParts() {
			p.refs.Add(1)
			u.check.add(p)
		}
		u.total += p.size
		select {
		case out <- p:
		case <-ctx.Done():
			p.release()
			return
		}
		if eof {
			return
		}
	}
}

// nextPart is part n, filled: the first one as firstPart reads it, small
// for a small body.
func (u *upload) nextPart(ctx context.Context, src *source, n int) (*part, bool, error) {
	if n == 1 {
		return u.firstPart(ctx, src)
	}
	p, err := u.newPart(ctx, n)
	if err != nil {
		return nil, false, err
	}
	eof, err := u.fillPart(src, p, nil)
	if err != nil {
		p.release()
		return nil, false, err
	}
	return p, eof, nil
}

// newPart takes one of the upload's slots, then a place for the part's
// bytes. A part larger than the whole budget is spooled. Any other gets
// memory at once if the budget has room; if not, an upload with parts in
// memory on their way to S3 waits its turn (sending them frees room),
// while one with none spools the part rather than wait on other
// transfers (and waits only when the disk cannot take it): every upload
// keeps moving, and none reads faster than its own parts are stored.
func (u *upload) newPart(ctx context.Context, n int) (*part, error) {
	select {
	case u.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	p := &part{num: n, free: func() { <-u.slots }}
	p.refs.Store(1)
	size, large := planPart(u.s.cfg.PartSize, n, buffers.size())
	if !large {
		if buf, ok := buffers.tryGet(int(size)); ok {
			return u.inMemory(p, buf), nil
		}
		if u.inFlight.Load() == 0 && u.s.spoolOK {
			err := u.spool(ctx, p, size, "memoryBudget is in use by other transfers")
			if err == nil {
				return p, nil
			}
			if ctx.Err() != nil {
				p.free()
				return nil, err
			}
			// The disk cannot take it: wait for memory after all.
		}
		buf, err := buffers.get(ctx, int(size))
		if err == nil {
			return u.inMemory(p, buf), nil
		}
		if !errors.Is(err, errOverBudget) { // else a new Init shrank the budget below the part
			p.free()
			return nil, err
		}
	}
	if err := u.spool(ctx, p, size, "parts are larger than memoryBudget"); err != nil {
		p.free()
		return nil, err
	}
	return p, nil
}

// inMemory gives p its buffer and counts it in flight until released.
func (u *upload) inMemory(p *part, buf []byte) *part {
	p.data = buf
	if p.from == nil {
		p.from = buffers
	}
	u.inFlight.Add(1)
	free := p.free
	p.free = func() { u.inFlight.Add(-1); free() }
	return p
}

// spool gives p a spool file for up to size bytes, when the upload has
// fewer than spoolDepth spooled parts.
func (u *upload) spool(ctx context.Context, p *part, size int64, why string) error {
	select {
	case u.spools <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	f, err := newSpoolFile(u.s.cfg.SpoolPath(), p.num, size)
	if err != nil {
		<-u.spools
		return err
	}
	if !u.spooling {
		u.spooling = true
		u.log.WithFields(logrus.Fields{"part": p.num, "partSize": config.ShowSize(size), "memoryBudget": config.ShowSize(buffers.size()),
			"spoolDir": u.s.cfg.SpoolPath(), "reason": why}).Info("spooling parts to disk")
	}
	p.file, p.size = f, size // the most it may hold until filled
	free := p.free
	p.free = func() { <-u.spools; free() }
	return nil
}

// fillPart reads the part's bytes from Velero, into memory or through a
// small buffer into its file, hashing them on the way as needed; pre are
// its first bytes, read already.
func (u *upload) fillPart(src *source, p *part, pre []byte) (eof bool, err error) {
	if p.file == nil {
		n, eof, err := src.fill(p.data[copy(p.data, pre):])
		n += len(pre)
		p.size = int64(n)
		if err == nil && !eof {
			eof, err = src.atEnd()
		}
		if err != nil {
			return false, fmt.Errorf("read body from Velero: %w", err)
		}
		if u.full != nil {
			u.full.Write(p.data[:n])
		}
		return eof, nil
	}
	if u.stage == nil {
		u.stage = make([]byte, spoolChunk)
	}
	alg := u.s.facts.checksum
	h := newHash(alg)
	limit := p.size
	p.size = 0
	if len(pre) > 0 {
		if _, err := p.file.WriteAt(pre, 0); err != nil {
			return false, fmt.Errorf("spool part %d to spoolDir %s: %w", p.num, u.s.cfg.SpoolPath(), err)
		}
		if h != nil {
			h.Write(pre)
		}
		if u.full != nil {
			u.full.Write(pre)
		}
		p.size = int64(len(pre))
	}
	for p.size < limit && !eof {
		var n int
		n, eof, err = src.fill(u.stage[:min(int64(len(u.stage)), limit-p.size)])
		if err != nil {
			return false, fmt.Errorf("read body from Velero: %w", err)
		}
		if _, err := p.file.WriteAt(u.stage[:n], p.size); err != nil {
			return false, fmt.Errorf("spool part %d to spoolDir %s: %w", p.num, u.s.cfg.SpoolPath(), err)
		}
		if h != nil {
			h.Write(u.stage[:n])
		}
		if u.full != nil {
			u.full.Write(u.stage[:n])
		}
		p.size += int64(n)
	}
	p.file.written()
	p.sum = hashSum(alg, h)
	if !eof {
		eof, err = src.atEnd()
		if err != nil {
			return false, fmt.Errorf("read body from Velero: %w", err)
		}
	}
	return eof, nil
}
