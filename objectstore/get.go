package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/minisig"
)

const (
	getChunk = 512 << 10 // bytes per read-ahead chunk
	getDepth = 16        // chunks read ahead: 8 MiB, taken from memoryBudget
)

// GetObject opens bucket/key and reads it ahead in the background, so S3
// and Velero's gRPC stream overlap. The reader never returns (0, nil),
// which the framework would take for the end. A request that stalls,
// loses its connection or gets a 5xx is made again, and a download that
// breaks resumes from where it stopped with a ranged GET of the same ETag,
// up to MaxRetries times in all; otherwise it ends in an error, never in
// a short body. The read-ahead takes its chunks from the process-wide
// memoryBudget: with many transfers at once each reads ahead less. An
// object that starts with age's header is decrypted as it is read (see
// openBody); a truncated or altered one ends in ErrDecrypt, and one that
// no identity at hand opens fails here with ErrEncrypted. Progress lines
// count what Velero is handed: the plaintext. With public keys to check
// signatures against, the object's signature is fetched beside it (an
// unreadable or missing one is an error before any byte is read) and the
// stored bytes are hashed as Velero reads them: where the object ends, a
// signature that does not verify is an error instead of io.EOF (see
// signing.go).
func (s *Store) GetObject(bucket, key string) (io.ReadCloser, error) {
	log := s.log.WithFields(logrus.Fields{"bucket": bucket, "key": key})
	ctx := context.Background() // Velero's call carries no context
	// The signature and the object are asked for at once: a small
	// object (each velero-backup.json at backup sync) then costs one
	// round trip, not two. The read-ahead hashes from the first byte and
	// waits for the signature only to judge it at the end.
	var check *verifying
	answer := make(chan signatureAnswer, 1)
	if s.cfg.Checks() {
		check = &verifying{d: minisig.NewDigest(), keys: s.cfg.AcceptedKeys(), name: s.signedName(key), known: make(chan struct{})}
		go func() {
			var a signatureAnswer
			a.sig, a.unsigned, a.err = s.signatureOf(ctx, bucket, key)
			answer <- a
		}()
	} else {
		answer <- signatureAnswer{}
	}
	d, derr := s.startDownload(ctx, log, bucket, key, check)
	a := <-answer
	if check != nil {
		check.settle(a.sig) // before any return: the read-ahead may wait for it
	}
	if a.err != nil {
		if d != nil {
			d.Close()
		}
		log.WithError(a.err).Error("get object failed")
		return nil, a.err
	}
	if derr != nil {
		return nil, derr
	}
	if a.unsigned {
		if err := s.unsignedRead(log, bucket, key); err != nil {
			d.Close()
			log.WithError(err).Error("get object failed")
			return nil, err
		}
	}
	r, sealed, err := openBody(d, s.cfg.EncryptionIdentities.List(), s.cfg.IdentitySource(), d.tr.add)
	if err != nil {
		d.Close()
		err = translate("get", bucket, key, err)
		log.WithError(err).Error("get object failed")
		return nil, err
	}
	switch {
	case sealed:
		log.Debug("decrypting the object with age")
	case s.encrypts(key):
		log.Warn("the object is not encrypted, though encryptionScope covers its key: it was written before encryption was on, or by someone else")
	}
	return &opened{Reader: r, download: d}, nil
}

// startDownload opens bucket/key from its first byte and starts its
// read-ahead, with retries and ranged resume: the one way GetObject and
// GetStored read an object. check, when set, hashes the stored bytes in
// the read-ahead for the object's signature. The download lives within
// parent until it is closed.
func (s *Store) startDownload(parent context.Context, log logrus.FieldLogger, bucket, key string, check *verifying) (*download, error) {
	ctx, cancel := context.WithCancelCause(parent)
	d := &download{
		s: s, log: log, bucket: bucket, key: key, cancel: cancel,
		tr:     startTransfer(log, "download", s.cfg.ProgressInterval, s.cfg.StallTimeout),
		chunks: make(chan chunk, getDepth),
		stop:   make(chan struct{}),
		check:  check,
	}
	d.tries = s.newTries(log, d.tr, "range")
	d.end = buffers.begin()
	body, err := d.open(ctx, 0)
	if err != nil {
		d.end()
		d.tr.finish(err)
		cancel(nil)
		return nil, s.explain(parent, translate("get", bucket, key, err), "s3:GetObject", s.objectsARN(bucket))
	}
	go d.pump(ctx, body)
	return d, nil
}

// opened is a download as Velero reads it: decrypted if it is an age file.
type opened struct {
	io.Reader
	*download
	failed error // a decryption failure, named and logged once
}

func (o *opened) Read(p []byte) (int, error) {
	if o.failed != nil {
		return 0, o.failed
	}
	n, err := o.Reader.Read(p)
	if signatureFailed(err) {
		o.failed = err // named and logged by the download
		return n, err
	}
	if errors.Is(err, ErrDecrypt) {
		o.failed = translate("get", o.bucket, o.key, err)
		o.log.WithError(o.failed).Error("get object failed")
		return n, o.failed
	}
	return n, err
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
	chunks chan chunk    // each chunk's buffer is from buffers; whoever drops it puts it back
	stop   chan struct{} // closed by Close: nobody reads chunks any more
	tries  *tries        // every request and resume; pump is its one user after open
	end    func()        // counts the download out of buffers' transfers

	size  int64  // from the first response
	sized bool   // it had a Content-Length
	etag  string // resumes must read the same object
	// check hashes the stored bytes in the read-ahead, in order across
	// resumes, and judges the signature at the end; nil for none.
	check *verifying

	// consumer side
	cur       []byte
	off       int
	err       error
	closeOnce sync.Once
}

// rangeBody is one response's body and the context it streams under,
// which a stall timer cancels.
type rangeBody struct {
	io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (r *rangeBody) Close() error {
	err := r.ReadCloser.Close()
	r.cancel(nil)
	return err
}

// open requests the object from offset on, again after a transient failure
// as d.tries allows.
func (d *download) open(ctx context.Context, offset int64) (*rangeBody, error) {
	for {
		body, err := d.request(ctx, offset)
		if err == nil {
			return body, nil
		}
		if err = d.tries.again(ctx, err, rangeAt(offset)); err != nil {
			return nil, err
		}
	}
}

func rangeAt(offset int64) logrus.Fields {
	return logrus.Fields{"offset": strconv.FormatInt(offset, 10)}
}

// request makes one GET from offset on, in a context of its own that
// outlives the call: the body streams under it.
func (d *download) request(ctx context.Context, offset int64) (*rangeBody, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.key)}
	d.s.sse.applyGet(in)
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
		in.IfMatch = aws.String(d.etag)
	}
	actx, acancel := context.WithCancelCause(ctx)
	timer := d.tr.watch("waiting for S3 to answer", acancel)
	out, err := d.s.s3.GetObject(actx, in, oneAttempt)
	timer.stop()
	if err != nil {
		err = cause(actx, err)
		acancel(nil)
		return nil, err
	}
	if offset == 0 {
		d.size, d.sized, d.etag = aws.ToInt64(out.ContentLength), out.ContentLength != nil, aws.ToString(out.ETag)
	}
	return &rangeBody{ReadCloser: out.Body, ctx: actx, cancel: acancel}, nil
}

// errReaderGone is why Close cancels the download; it ends the pump.
var errReaderGone = errors.New("reader closed")

// pump reads the body into chunks until the end or an error it cannot
// resume from, which it hands to the reader.
func (d *download) pump(ctx context.Context, body *rangeBody) {
	defer close(d.chunks)
	var off int64
	for {
		err := d.stream(ctx, body, &off)
		body.Close()
		switch {
		case errors.Is(err, errReaderGone):
			return
		case off == d.size && (d.sized || errors.Is(err, io.EOF)):
			// Every byte arrived; a connection that broke after the
			// last one loses nothing.
			d.tries.succeeded(rangeAt(off))
			if d.check != nil {
				signer, err := d.s.judge(ctx, d.log, d.bucket, d.key, d.check)
				if err != nil {
					d.send(chunk{err: signatureError(d.bucket, d.key, err)})
					return
				}
				if signer != "" {
					d.log.WithField("signer", signer).Debug("signature verified")
				}
			}
			return
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("%w: S3 sent %d of %d bytes", io.ErrUnexpectedEOF, off, d.size)
		}
		if err = d.tries.again(ctx, err, rangeAt(off)); err == nil {
			body, err = d.open(ctx, off)
		}
		if err != nil {
			d.send(chunk{err: translate("get", d.bucket, d.key, fmt.Errorf("at byte %d of %d: %w", off, d.size, err))})
			return
		}
	}
}

// stream hands body's bytes on as chunks, counting them into off, until
// the body ends (io.EOF), breaks (the read error, a stall's included) or
// the reader is gone (errReaderGone).
func (d *download) stream(ctx context.Context, body *rangeBody, off *int64) error {
	timer := d.tr.watch("reading the object from S3", body.cancel)
	defer timer.stop()
	for {
		timer.stop() // waiting for memory is not a stall
		buf, err := buffers.get(ctx, d.chunkSize(*off))
		if err != nil {
			return errReaderGone // only Close ends ctx
		}
		n, err := readWatched(body, buf, timer)
		timer.stop() // nor is waiting for Velero to take the chunk
		*off += int64(n)
		if d.check != nil {
			d.check.feed(buf[:n]) // beside Velero's reads, on the read-ahead's core
		}
		if n == 0 || !d.send(chunk{data: buf[:n]}) {
			buffers.put(buf)
			if n > 0 {
				return errReaderGone
			}
		}
		if err != nil {
			return cause(body.ctx, err)
		}
	}
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

// send hands a chunk to the reader; false when the reader was closed.
// It does not give up when the transfer's context ends: the error chunk
// that follows must reach the reader, or the end of the channel would read
// as a clean, short end of the object.
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
			buffers.put(d.cur)
			d.cur = nil
		}
		c, ok := <-d.chunks
		switch {
		case !ok:
			d.err = io.EOF
		case c.err != nil:
			d.err = c.err
			d.log.WithError(c.err).WithFields(d.tr.retries().fields()).Error("get object failed")
		default:
			d.cur, d.off = c.data, 0
		}
	}
	return 0, d.err
}

// Close stops the read-ahead, releases the connection and gives the
// read-ahead's memory back. It is safe to call more than once, not while
// a Read runs.
func (d *download) Close() error {
	d.closeOnce.Do(func() {
		var err error
		if d.err != io.EOF {
			err = errors.New("closed before the end")
		}
		close(d.stop)
		d.cancel(errReaderGone)
		if d.cur != nil {
			buffers.put(d.cur)
			d.cur = nil
		}
		go func() { // until the pump, stopping now, closes chunks
			for c := range d.chunks {
				if c.data != nil {
					buffers.put(c.data)
				}
			}
			d.end()
		}()
		d.tr.finish(err)
	})
	return nil
}
