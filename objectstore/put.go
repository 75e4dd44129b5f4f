package objectstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/minisig"
)

// PutObject streams body (of unknown size, not seekable) to bucket/key.
// A body that fits in the first part goes up in one request; a larger one
// as a multipart upload with at most Concurrency parts in flight. A part
// (or the single request) that stalls, loses its connection or gets a 5xx
// is sent again on a new connection, up to MaxRetries times; any other
// failure, or the last retry's, aborts the upload, so nothing is ever
// half-written. A .gz body whose gzip stream is cut short or corrupt, and
// a .json body that is not one whole JSON value, are never committed.
// With objectLockMode the object carries that mode and a retain-until
// date objectLockRetention after its upload started.
//
// Parts take their memory from the process-wide memoryBudget, shared with
// every other transfer. A part larger than the whole budget, or one that
// finds the budget taken by others while its upload has none in memory,
// is spooled to a file in spoolDir instead, gone once the part is stored
// or the upload ends.
//
// Velero's host reports a plugin's PutObject error as a bare EOF, so the
// real cause is logged here at Error level.
func (s *Store) PutObject(bucket, key string, body io.Reader) error {
	ctx := context.Background() // Velero's call carries no context
	return s.putObject(ctx, s.log.WithFields(logrus.Fields{"bucket": bucket, "key": key}), bucket, key, body)
}

type upload struct {
	s        *Store
	log      logrus.FieldLogger
	bucket   string
	key      string
	tr       *transfer
	slots    chan struct{} // parts of this upload in flight: Concurrency + 1
	spools   chan struct{} // of which spooled: spoolDepth
	stage    []byte        // what a spooled part is copied through
	spooling bool          // a part was spooled (logged once)
	inFlight atomic.Int32  // parts in memory not yet released
	check    *streamCheck  // nil for keys whose format says nothing
	stop     context.CancelCauseFunc
	full     hash.Hash
	until    time.Time // retain-until date with objectLockMode
	total    int64
	parts    chan *part
	readErr  error // set by read before it closes parts
}

func (s *Store) putObject(parent context.Context, log logrus.FieldLogger, bucket, key string, body io.Reader) (err error) {
	c := s.cfg
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	u := &upload{
		s: s, log: log, bucket: bucket, key: key,
		tr:     startTransfer(log, "upload", c.ProgressInterval, c.StallTimeout),
		slots:  make(chan struct{}, c.Concurrency+1),
		spools: make(chan struct{}, spoolDepth),
		full:   fullHash(s.facts.checksum),
		until:  lockUntil(c),
		stop:   cancel,
	}
	defer buffers.begin()()
	defer func() {
		u.tr.finish(err)
		if err != nil {
			err = s.explain(parent, err, "s3:PutObject", s.objectsARN(bucket)) // not ctx: a failed part cancelled it
			msg := "put object failed; nothing was written"
			if errors.Is(err, errLeftUnsigned) {
				msg = "put object failed: the object was written, but its signature was not, and deleting it again failed"
			}
			log.WithError(err).WithFields(u.tr.retries().fields()).Error(msg)
		}
	}()
	src, count, err := u.body(key, body)
	if err != nil {
		return err
	}
	var digest *minisig.Digest
	if c.SigningKey != nil { // what is signed is what is stored
		digest = minisig.NewDigest()
		src = io.TeeReader(src, digest)
	}
	if err := u.store(ctx, src, count); err != nil {
		return err
	}
	switch {
	case digest != nil:
		return u.putSignature(ctx, digest)
	case c.Checks():
		return u.dropStaleSignature(ctx)
	}
	return nil
}

// store reads src into parts and writes them: in one request when the
// body fits one part, else as a multipart upload.
func (u *upload) store(ctx context.Context, src io.Reader, count func(int)) error {
	u.parts = make(chan *part)
	go u.read(ctx, src, count, u.parts)

	first, err := u.next(ctx)
	if err != nil {
		return err
	}
	if first == nil { // Velero sends no message for an empty body; a direct caller may
		return u.putSingle(ctx, &part{num: 1})
	}
	if !first.last {
		return u.multipart(ctx, first)
	}
	defer first.release()
	if _, err := u.next(ctx); err != nil { // the end, and the body check's verdict
		return err
	}
	return u.putSingle(ctx, first)
}

// body is what the upload reads and stores, with what counts its progress
// in bytes of Velero's body: for an encrypted key a sealer, which counts
// the plaintext and hands the body check its copy of it; for any other
// the body itself, checked in its parts.
func (u *upload) body(key string, body io.Reader) (io.Reader, func(int), error) {
	check := checkFor(key)
	if !u.s.encrypts(key) {
		if check != nil {
			u.check = newStreamCheck(check, u.s.cfg.Concurrency+1)
		}
		return body, u.tr.add, nil
	}
	var plain *plainPipe
	if check != nil {
		u.check = newPlainCheck(check)
		plain = u.check.pipe
	}
	sl, err := newSealer(body, u.s.cfg.Recipients(), plain, u.tr.add)
	if err != nil {
		if u.check != nil {
			u.check.end()
		}
		return nil, nil, translate("put", u.bucket, u.key, err)
	}
	u.log.WithField("recipients", len(u.s.cfg.EncryptionRecipients)).Debug("encrypting the object with age")
	return sl, func(int) {}, nil
}

// checkEnd runs once the whole body has been read: the body check's verdict.
func (u *upload) checkEnd() error {
	if u.check == nil {
		return nil
	}
	return u.check.result(u.total)
}

// putSingle writes the whole object, held in p, in one request.
func (u *upload) putSingle(ctx context.Context, p *part) error {
	c := u.s.cfg
	in := &s3.PutObjectInput{
		Bucket:        aws.String(u.bucket),
		Key:           aws.String(u.key),
		ContentLength: aws.Int64(p.size),
	}
	u.s.sse.applyPut(in)
	applyLockPut(in, c.ObjectLockMode, u.until)
	if c.Tagging != "" {
		in.Tagging = aws.String(c.Tagging)
	}
	in.StorageClass = u.storageClass()
	p.checksum(u.s.facts.checksum).applyPut(in)
	err := u.s.newTries(u.log, u.tr, "object").do(ctx, func() error {
		return u.attempt(ctx, "sending the object to S3", p, func(actx context.Context, body io.ReadSeeker) error {
			in.Body = body
			_, err := u.s.s3.PutObject(actx, in, u.s.dataOpts...)
			return err
		})
	})
	if err != nil {
		return translate("put", u.bucket, u.key, err)
	}
	u.log.WithField("bytes", p.size).Debug("object written in one request")
	return nil
}

// storageClass is storageClass for the backup tarball, "" (the bucket's
// default) for every other key: metadata and logs are read by Velero's
// sync and CLI, and stay cheap to read.
func (u *upload) storageClass() types.StorageClass {
	if u.s.cfg.StorageClass == "" || !backupContents(u.key) {
		return ""
	}
	return types.StorageClass(u.s.cfg.StorageClass)
}

// attempt sends p's bytes once, from the first (a spooled part's from its
// file), in a request of its own context that a stall timer cancels when
// the bytes stop moving (or no answer comes), so a stall ends this attempt
// and not the transfer.
func (u *upload) attempt(ctx context.Context, step string, p *part, send func(context.Context, io.ReadSeeker) error) error {
	actx, acancel := context.WithCancelCause(ctx)
	defer acancel(nil)
	timer := u.tr.watch(step, acancel)
	defer timer.stop()
	return cause(actx, send(actx, &watchedBody{ReadSeeker: p.body(), timer: timer}))
}

func (u *upload) multipart(ctx context.Context, first *part) (err error) {
	c := u.s.cfg
	create := &s3.CreateMultipartUploadInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)}
	u.s.sse.applyCreate(create)
	applyLockCreate(create, c.ObjectLockMode, u.until)
	if c.Tagging != "" {
		create.Tagging = aws.String(c.Tagging)
	}
	create.StorageClass = u.storageClass()
	if alg := u.s.facts.checksum; flexible(alg) {
		create.ChecksumAlgorithm = types.ChecksumAlgorithm(alg)
		if u.full != nil {
			create.ChecksumType = types.ChecksumTypeFullObject
		}
	}
	u.sweepStale(ctx)
	rctx, rcancel := context.WithTimeout(ctx, c.RequestTimeout)
	out, err := u.s.s3.CreateMultipartUpload(rctx, create)
	rcancel()
	if err != nil {
		first.release()
		return translate("start multipart upload of", u.bucket, u.key, cause(ctx, err))
	}
	uploadID := aws.ToString(out.UploadId)
	log := u.log.WithField("uploadId", uploadID)
	log.Debug("multipart upload started")
	defer func() {
		if err != nil {
			u.abort(ctx, log, uploadID)
		}
	}()

	var (
		mu       sync.Mutex
		done     []types.CompletedPart
		wg       sync.WaitGroup
		firstErr error
	)
	// Once the body has failed, parts in flight finish (an abort must not
	// race a part that S3 is still storing) but none is tried again.
	retrying, stopRetrying := context.WithCancel(ctx)
	defer stopRetrying()
	fail := func(e error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = e
			u.stop(e)
		}
		mu.Unlock()
	}
	send := func(p *part) {
		defer wg.Done()
		defer p.release()
		cp, e := u.uploadPart(ctx, retrying, uploadID, p)
		if e != nil {
			fail(e)
			return
		}
		mu.Lock()
		done = append(done, cp)
		mu.Unlock()
	}
	wg.Add(1)
	go send(first)
	var readErr error
	for {
		p, e := u.next(ctx)
		if e != nil || p == nil {
			readErr = e
			break
		}
		wg.Add(1)
		go send(p)
	}
	if readErr != nil {
		stopRetrying()
	}
	wg.Wait()
	switch {
	case firstErr != nil:
		return firstErr
	case readErr != nil:
		return readErr
	}
	return u.complete(ctx, log, uploadID, done)
}

// uploadPart sends one part, again on a new connection after a transient
// failure while retrying lasts: the part is in memory or in its spool file
// until it is stored.
func (u *upload) uploadPart(ctx, retrying context.Context, uploadID string, p *part) (types.CompletedPart, error) {
	in := &s3.UploadPartInput{
		Bucket:        aws.String(u.bucket),
		Key:           aws.String(u.key),
		UploadId:      aws.String(uploadID),
		PartNumber:    aws.Int32(int32(p.num)), //nolint:gosec // at most 10,000
		ContentLength: aws.Int64(p.size),
	}
	u.s.sse.applyPart(in)
	cp := types.CompletedPart{PartNumber: in.PartNumber}
	p.checksum(u.s.facts.checksum).applyPart(in, &cp)
	log := u.log.WithFields(logrus.Fields{"uploadId": uploadID, "part": p.num})
	err := u.s.newTries(log, u.tr, "part").do(retrying, func() error {
		return u.attempt(ctx, fmt.Sprintf("sending part %d to S3", p.num), p, func(actx context.Context, body io.ReadSeeker) error {
			in.Body = body
			out, err := u.s.s3.UploadPart(actx, in, u.s.dataOpts...)
			if err == nil {
				cp.ETag = out.ETag
			}
			return err
		})
	})
	if err != nil {
		return cp, translate(fmt.Sprintf("upload part %d of", p.num), u.bucket, u.key, err)
	}
	return cp, nil
}

func (u *upload) complete(ctx context.Context, log logrus.FieldLogger, uploadID string, done []types.CompletedPart) error {
	c := u.s.cfg
	slices.SortFunc(done, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(u.bucket),
		Key:             aws.String(u.key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	}
	u.s.sse.applyComplete(in)
	if u.full != nil {
		in.ChecksumType = types.ChecksumTypeFullObject
		in.ChecksumCRC64NVME = aws.String(base64.StdEncoding.EncodeToString(u.full.Sum(nil)))
	}
	// Completing a large upload can take S3 minutes.
	rctx, rcancel := context.WithTimeout(ctx, c.CompleteTimeout())
	defer rcancel()
	if _, err := u.s.s3.CompleteMultipartUpload(rctx, in); err != nil {
		return translate("complete multipart upload of", u.bucket, u.key, cause(ctx, err))
	}
	// The stored size must be the size read, or the object is not ours.
	head := &s3.HeadObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)}
	u.s.sse.applyHead(head)
	hctx, hcancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer hcancel()
	h, err := u.s.s3.HeadObject(hctx, head)
	if err != nil {
		return translate("check size of", u.bucket, u.key, err)
	}
	if got := aws.ToInt64(h.ContentLength); got != u.total {
		gone := "the object was deleted"
		if derr := u.s.deleteObject(context.WithoutCancel(ctx), u.bucket, u.key); derr != nil { // taking it back must not be cut short
			gone = fmt.Sprintf("deleting it failed too, so it is still there: delete it by hand (%v)", derr)
		}
		return translate("put", u.bucket, u.key, fmt.Errorf("%w: stored %d bytes but read %d; %s", ErrTruncated, got, u.total, gone))
	}
	log.WithFields(logrus.Fields{"bytes": u.total, "parts": len(done)}).Debug("multipart upload completed")
	return nil
}

// abort removes the parts of a failed upload so that no orphan is left.
// It runs even when the transfer's context was cancelled.
func (u *upload) abort(ctx context.Context, log logrus.FieldLogger, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.s.cfg.RequestTimeout)
	defer cancel()
	_, err := u.s.s3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(u.bucket), Key: aws.String(u.key), UploadId: aws.String(uploadID),
	})
	if err != nil && !isNotFound(err) {
		log.WithError(err).Error("abort of failed multipart upload failed; its parts are left until a lifecycle rule or a later sweep removes them")
		return
	}
	log.Info("multipart upload aborted")
}
