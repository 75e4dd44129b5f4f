package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/backoff"
)

const (
	getChunk = 512 << 10 // bytes per read-ahead chunk
	getDepth = 16        // chunks read ahead: 8 MiB
)

// resumeWait is the wait before each resume of a broken download.
var resumeWait = backoff.Policy{Initial: time.Second, Max: 20 * time.Second, Multiplier: 2, Jitter: 0.2}

// GetObject opens bucket/key and reads it ahead in the background, so S3
// and Velero's gRPC stream overlap. The reader never returns (0, nil),
// which the framework would take for the end; a download that breaks is
// resumed from where it stopped (same ETag) up to MaxRetries times, and
// otherwise ends in an error, never in a short body.
func (s *Store) GetObject(bucket, key string) (io.ReadCloser, error) {
	log := s.log.WithFields(logrus.Fields{"bucket": bucket, "key": key})
	ctx, cancel := context.WithCancelCause(context.Background())
	d := &download{
		s: s, log: log, bucket: bucket, key: key, cancel: cancel,
		tr:     startTransfer(log, "download", s.cfg.ProgressInterval, s.cfg.StallTimeout, cancel),
		chunks: make(chan chunk, getDepth),
		free:   make(chan []byte, getDepth+2),
		stop:   make(chan struct{}),
		wait:   resumeWait.Start(),
	}
	body, err := d.open(ctx, 0)
	if err != nil {
		d.tr.finish(err)
		cancel(nil)
		return nil, err
	}
	go d.pump(ctx, body)
	return d, nil
}

type chunk struct {
	data []byte
	err  error
}

type download struct {
	s      *Store
	log    logrus.FieldLogger
	bucket string
	key    string
	cancel context.CancelCauseFunc
	tr     *transfer
	chunks chan chunk
	free   chan []byte
	stop   chan struct{}    // closed by Close: nobody reads chunks any more
	wait   *backoff.Backoff // before each resume; pump is its one user

	size int64  // from the first response
	etag string // resumes must read the same object

	// consumer side
	cur       []byte
	off       int
	err       error
	closeOnce sync.Once
}

// open requests the object from offset on; the context must outlive the
// response, since the body streams under it.
func (d *download) open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.key)}
	d.s.sse.applyGet(in)
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
		in.IfMatch = aws.String(d.etag)
	}
	timer := d.tr.watch("waiting for S3 to answer")
	defer timer.stop()
	out, err := d.s.s3.GetObject(ctx, in)
	if err != nil {
		return nil, translate("get", d.bucket, d.key, cause(ctx, err))
	}
	if offset == 0 {
		d.size, d.etag = aws.ToInt64(out.ContentLength), aws.ToString(out.ETag)
	}
	return out.Body, nil
}

// pump reads the body into chunks until the end or an error it cannot
// resume from, which it hands to the reader.
func (d *download) pump(ctx context.Context, body io.ReadCloser) {
	defer close(d.chunks)
	var off int64
	retries := 0
	timer := d.tr.watch("reading the object from S3")
	defer timer.stop()
	for {
		buf := d.buffer()
		n, err := readWatched(body, buf, timer)
		timer.stop() // waiting for Velero to take the chunk is not a stall
		off += int64(n)
		d.tr.add(n)
		if n > 0 && !d.send(chunk{data: buf[:n]}) {
			body.Close()
			return
		}
		if err == nil {
			continue
		}
		body.Close()
		if errors.Is(err, io.EOF) {
			if off == d.size {
				return
			}
			err = fmt.Errorf("%w: S3 sent %d of %d bytes", io.ErrUnexpectedEOF, off, d.size)
		}
		if ctx.Err() != nil || retries >= d.s.cfg.MaxRetries {
			d.send(chunk{err: translate("get", d.bucket, d.key, cause(ctx, err))})
			return
		}
		retries++
		d.log.WithError(err).WithFields(logrus.Fields{"offset": off, "attempt": retries}).Warn("download broke; resuming")
		if body, err = d.resume(ctx, off); err != nil {
			d.send(chunk{err: err})
			return
		}
	}
}

// resume waits its turn, then requests the object again from off.
func (d *download) resume(ctx context.Context, off int64) (io.ReadCloser, error) {
	if !d.wait.Wait(ctx) {
		return nil, translate("get", d.bucket, d.key, context.Cause(ctx))
	}
	return d.open(ctx, off)
}

// readWatched fills buf, stopping early only at the end or an error.
func readWatched(r io.Reader, buf []byte, timer *stallTimer) (int, error) {
	n := 0
	for n < len(buf) {
		timer.kick()
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (d *download) buffer() []byte {
	select {
	case b := <-d.free:
		return b[:getChunk]
	default:
		return make([]byte, getChunk)
	}
}

// send hands a chunk to the reader; false when the reader was closed.
// It does not give up when the transfer's context ends (a stall, say):
// the error chunk that follows must reach the reader, or the end of the
// channel would read as a clean, short end of the object.
func (d *download) send(c chunk) bool {
	select {
	case d.chunks <- c:
		return true
	case <-d.stop:
		return false
	}
}

// Read copies out the read-ahead chunks. It returns at least one byte or
// an error: io.EOF only after the whole object arrived.
func (d *download) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for d.err == nil {
		if d.off < len(d.cur) {
			n := copy(p, d.cur[d.off:])
			d.off += n
			return n, nil
		}
		if d.cur != nil {
			select {
			case d.free <- d.cur[:cap(d.cur)]:
			default:
			}
			d.cur = nil
		}
		c, ok := <-d.chunks
		switch {
		case !ok:
			d.err = io.EOF
		case c.err != nil:
			d.err = c.err
			d.log.WithError(c.err).Error("get object failed")
		default:
			d.cur, d.off = c.data, 0
		}
	}
	return 0, d.err
}

// Close stops the read-ahead and releases the connection. It is safe to
// call more than once.
func (d *download) Close() error {
	d.closeOnce.Do(func() {
		var err error
		if d.err != io.EOF {
			err = errors.New("closed before the end")
		}
		close(d.stop)
		d.cancel(errors.New("reader closed"))
		d.tr.finish(err)
	})
	return nil
}
