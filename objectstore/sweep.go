package objectstore

import (
	"context"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sirupsen/logrus"
)

// A plugin process killed mid-upload (kill -9, an OOM kill, a node lost)
// never aborts its multipart upload: the parts stay stored, billed and
// invisible to every listing Velero makes. Two sweeps remove them.
//
// The stale sweep aborts uploads in the BSL's folder started more than
// staleUploadAge ago, once per process and folder: at the first call that
// lists the BSL (Velero's availability check, about every minute, in a
// plugin process of its own) or before the first multipart upload,
// whichever comes first.
//
// The backup sweep aborts every upload in a backup's folder, whatever its
// age, at the first DeleteObject of a key in it: Velero deletes a backup's
// objects only once the backup is no longer in progress, so anything
// still uploading there is an orphan.
//
// Velero ends a plugin process as soon as the call that needed it
// returns (each reconcile cleans up its clients), so a sweep left running
// in the background would die with it. Each sweep therefore runs beside
// the call that triggers it, which waits for it before returning: the one
// ListMultipartUploads takes about as long as the call's own request, so
// the call is slower only by the aborts, when there is something to
// abort. A sweep never fails its call: a store that forbids listing
// uploads just keeps them.

var (
	staleSwept  sync.Map // bucket/folder: the stale sweep ran in this process
	backupSwept sync.Map // bucket/backup folder: the backup sweep ran
)

// sweepStale is the stale sweep before a multipart upload.
func (u *upload) sweepStale(ctx context.Context) {
	if sweep := u.s.staleSweep(u.bucket); sweep != nil {
		sweep(ctx)
	}
}

// staleSweep is the stale sweep of bucket's BSL folder if it is due (not
// yet run in this process, staleUploadAge not 0), else nil.
func (s *Store) staleSweep(bucket string) func(context.Context) {
	age := s.cfg.StaleUploadAge
	if age <= 0 || bucket != s.cfg.Bucket {
		return nil
	}
	folder := folderOf(s.cfg.Prefix)
	if _, done := staleSwept.LoadOrStore(bucket+"/"+folder, true); done {
		return nil
	}
	return func(ctx context.Context) {
		s.abortUploads(ctx, bucket, folder, age, "aborted a stale multipart upload left by an earlier failure")
	}
}

// backupSweep is the backup sweep of key's backup folder if key is in
// one (<BSL folder>backups/<name>/...) and it has not run in this
// process, else nil.
func (s *Store) backupSweep(bucket, key string) func(context.Context) {
	folder, ok := backupFolder(folderOf(s.cfg.Prefix), key)
	if !ok || bucket != s.cfg.Bucket {
		return nil
	}
	if _, done := backupSwept.LoadOrStore(bucket+"/"+folder, true); done {
		return nil
	}
	return func(ctx context.Context) {
		s.abortUploads(ctx, bucket, folder, 0, "aborted an incomplete multipart upload in the folder of a backup being deleted")
	}
}

// beside starts sweep (nil: none) alongside the caller's own request,
// within requestTimeout of ctx, and returns the wait for it.
func (s *Store) beside(ctx context.Context, sweep func(context.Context)) (wait func()) {
	if sweep == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		sweep(ctx)
	}()
	return func() { <-done }
}

// backupFolder is the folder <BSL folder>backups/<name>/ that key is in.
func backupFolder(bsl, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, bsl+"backups/")
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok || name == "" || path.Clean(name) != name || name == ".." {
		return "", false
	}
	return bsl + "backups/" + name + "/", true
}

// abortUploads aborts the multipart uploads under folder started at least
// olderThan ago (any with 0), logging each with why.
func (s *Store) abortUploads(ctx context.Context, bucket, folder string, olderThan time.Duration, why string) {
	log := s.log.WithFields(logrus.Fields{"bucket": bucket, "folder": folder})
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	// The whole bucket is listed and filtered here: MinIO lists uploads
	// for "" or one exact key only, not for a folder prefix.
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	var found []types.MultipartUpload
	for page := 0; page < 10; page++ {
		out, err := s.s3.ListMultipartUploads(rctx, in)
		if err != nil {
			log.WithError(err).Debug("listing incomplete multipart uploads failed; none aborted")
			return
		}
		for _, m := range out.Uploads {
			if m.Initiated != nil && time.Since(*m.Initiated) >= olderThan && strings.HasPrefix(aws.ToString(m.Key), folder) {
				found = append(found, m)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	for _, m := range found {
		_, err := s.s3.AbortMultipartUpload(rctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: m.Key, UploadId: m.UploadId})
		entry := log.WithFields(logrus.Fields{"staleKey": aws.ToString(m.Key), "initiated": m.Initiated.UTC().Format(time.RFC3339)})
		if err != nil && !isNotFound(err) {
			entry.WithError(err).Warn("could not abort an incomplete multipart upload; its parts stay until a lifecycle rule or a later sweep removes them")
			continue
		}
		entry.Info(why)
	}
}

// folderOf is the key prefix of a BSL's folder: prefix "p" owns "p/..."
// and not "p2/...", which may be another BSL's in the same bucket. An
// empty prefix owns the whole bucket.
func folderOf(prefix string) string {
	if prefix = strings.TrimSuffix(prefix, "/"); prefix == "" {
		return ""
	}
	return prefix + "/"
}
