package objectstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/s3err"
)

// lockFixHint says how a bucket gets Object Lock.
const lockFixHint = "Object Lock can be turned on only when a bucket is created on most S3 servers " +
	"(`aws s3api create-bucket --bucket %[1]s --object-lock-enabled-for-bucket`, `mc mb --with-lock`); " +
	"on AWS an existing bucket takes it once versioning is on: " +
	"`aws s3api put-bucket-versioning --bucket %[1]s --versioning-configuration Status=Enabled` then " +
	"`aws s3api put-object-lock-configuration --bucket %[1]s --object-lock-configuration ObjectLockEnabled=Enabled`"

// checkLock makes sure that a bucket which objectLockMode writes to can
// keep locked versions: versioning Enabled and Object Lock enabled. With
// objectLockMode unset it only looks, once per process and bucket, for a
// default retention worth a line in the log, and says whether it found one.
func (s *Store) checkLock(ctx context.Context, c *config.ObjectStore, client s3API) (retention bool, err error) {
	if c.ObjectLockMode == "" {
		return s.probeDefaultRetention(ctx, c, client), nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	b := aws.String(c.Bucket)
	var missing []string
	v, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if err != nil {
		return false, lockCheckError(c, "versioning", "s3:GetBucketVersioning", err)
	}
	if v.Status != types.BucketVersioningStatusEnabled {
		state := "off"
		if v.Status != "" {
			state = string(v.Status)
		}
		missing = append(missing, "versioning Enabled (it is "+state+")")
	}
	l, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b})
	switch {
	case err != nil && lockNotConfigured(err):
		missing = append(missing, "Object Lock enabled (it is not: "+s3err.Code(err)+")")
	case err != nil:
		return false, lockCheckError(c, "Object Lock configuration", "s3:GetBucketObjectLockConfiguration", err)
	case l.ObjectLockConfiguration == nil || l.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		missing = append(missing, "Object Lock enabled (it is not)")
	}
	if len(missing) == 0 {
		return false, nil
	}
	fix := fmt.Sprintf(lockFixHint, c.Bucket)
	if len(missing) == 1 && strings.HasPrefix(missing[0], "versioning") {
		fix = fmt.Sprintf("`aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled`", c.Bucket)
	}
	return false, finding.Fail(lockCheck(c), fmt.Errorf("the bucket needs %s", strings.Join(missing, " and ")), "%s", fix)
}

// lockCheck names the check of a bucket for objectLockMode.
func lockCheck(c *config.ObjectStore) string {
	return fmt.Sprintf("objectLockMode %s: versioning and Object Lock of bucket %q", c.ObjectLockMode, c.Bucket)
}

// lockCheckError explains a failed read of the bucket's versioning or
// Object Lock state.
func lockCheckError(c *config.ObjectStore, what, permission string, err error) error {
	err = translate("read "+what+" of bucket", c.Bucket, "", err)
	if errors.Is(err, ErrAccessDenied) {
		return finding.Fail(lockCheck(c), err, "grant %s and %s on arn:aws:s3:::%s to the BSL's identity: objectLockMode checks them at every Init",
			permission, otherLockPermission(permission), c.Bucket)
	}
	return finding.Fail(lockCheck(c), err, "")
}

func otherLockPermission(p string) string {
	if p == "s3:GetBucketVersioning" {
		return "s3:GetBucketObjectLockConfiguration"
	}
	return "s3:GetBucketVersioning"
}

// lockNotConfigured is the answer of a bucket without Object Lock (AWS,
// MinIO and Ceph say ObjectLockConfigurationNotFoundError), or of a server
// that has no Object Lock at all.
func lockNotConfigured(err error) bool {
	r := s3err.Of(err)
	return r == s3err.LockNotConfigured || r == s3err.NoSuchKey
}

// lockProbed is what this process found of each bucket's default
// retention, by endpoint and bucket (a *retentionProbe).
var lockProbed sync.Map

type retentionProbe struct {
	once  sync.Once
	found bool
}

// probeDefaultRetention says whether the bucket gives new objects a
// default retention, looking once per process and bucket, and logs one
// when it finds it: Velero's deletions then only hide objects. A failed
// look counts as none: it is a courtesy, and without a checksum a write
// that S3 then refuses names checksumAlgorithm.
func (s *Store) probeDefaultRetention(ctx context.Context, c *config.ObjectStore, client s3API) bool {
	p, _ := lockProbed.LoadOrStore(c.S3URL+" "+c.Bucket, &retentionProbe{})
	probe := p.(*retentionProbe)
	probe.once.Do(func() { probe.found = s.lookForRetention(ctx, c, client) })
	return probe.found
}

func (s *Store) lookForRetention(ctx context.Context, c *config.ObjectStore, client s3API) bool {
	// One attempt within requestTimeout: a courtesy that never holds Init
	// up longer than one request.
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	out, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(c.Bucket)}, oneAttempt)
	log := s.log.WithField("bucket", c.Bucket)
	if err != nil {
		log.WithError(err).Debug("no Object Lock configuration read; the bucket is taken to have none")
		return false
	}
	lc := out.ObjectLockConfiguration
	if lc == nil || lc.Rule == nil || lc.Rule.DefaultRetention == nil {
		return false
	}
	r := lc.Rule.DefaultRetention
	period := plural(aws.ToInt32(r.Days), "day")
	if r.Years != nil {
		period = plural(aws.ToInt32(r.Years), "year")
	}
	log.WithFields(logrus.Fields{"mode": string(r.Mode), "retention": period}).Info(
		"bucket has a default Object Lock retention: Velero's deletions leave delete markers; versions stay until their date")
	return true
}

func plural(n int32, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// lockUntil is the retain-until date of an object whose upload starts
// now, zero without objectLockMode.
func lockUntil(c *config.ObjectStore) time.Time {
	if c.ObjectLockMode == "" {
		return time.Time{}
	}
	return time.Now().UTC().Add(c.ObjectLockRetention)
}

func applyLockPut(in *s3.PutObjectInput, mode string, until time.Time) {
	if mode != "" {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockMode(mode), aws.Time(until)
	}
}

func applyLockCreate(in *s3.CreateMultipartUploadInput, mode string, until time.Time) {
	if mode != "" {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockMode(mode), aws.Time(until)
	}
}
