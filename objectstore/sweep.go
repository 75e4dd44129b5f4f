package objectstore

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sirupsen/logrus"
)

// sweepStale aborts multipart uploads in the BSL's folder that were
// started more than StaleUploadAge ago: the parts of an upload whose
// plugin process died (so its abort never ran) would otherwise be stored
// and billed for ever. It runs before the first multipart upload to a
// bucket after Init (Velero starts a plugin process per backup, so about
// once a backup), and never fails the upload: a store that forbids
// listing uploads just keeps them.
func (u *upload) sweepStale(ctx context.Context) {
	age := u.s.cfg.StaleUploadAge
	if age <= 0 {
		return
	}
	if _, done := u.s.swept.LoadOrStore(u.bucket, true); done {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, u.s.cfg.RequestTimeout)
	defer cancel()
	// The whole bucket is listed and filtered here: MinIO lists uploads
	// for "" or one exact key only, not for a folder prefix.
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(u.bucket)}
	folder := folderOf(u.s.cfg.Prefix)
	var stale []types.MultipartUpload
	for page := 0; page < 10; page++ {
		out, err := u.s.s3.ListMultipartUploads(rctx, in)
		if err != nil {
			u.log.WithError(err).Debug("listing stale multipart uploads failed; none aborted")
			return
		}
		for _, m := range out.Uploads {
			if m.Initiated != nil && time.Since(*m.Initiated) >= age && strings.HasPrefix(aws.ToString(m.Key), folder) {
				stale = append(stale, m)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	for _, m := range stale {
		_, err := u.s.s3.AbortMultipartUpload(rctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(u.bucket), Key: m.Key, UploadId: m.UploadId})
		entry := u.log.WithFields(logrus.Fields{"staleKey": aws.ToString(m.Key), "initiated": m.Initiated.UTC().Format(time.RFC3339)})
		if err != nil {
			entry.WithError(err).Warn("could not abort a stale multipart upload")
			continue
		}
		entry.Info("aborted a stale multipart upload left by an earlier failure")
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
