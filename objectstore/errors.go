package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"example.io/velero-plugin-s3csi/internal/awsconn"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/s3err"
)

// Sentinel errors: S3 and network errors are translated into these once,
// here, and callers test them with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrNoSuchBucket = errors.New("no such bucket")
	ErrAccessDenied = errors.New("access denied")
	ErrTruncated    = errors.New("truncated upload")
	ErrTLS          = errors.New("TLS verification failed")
	// ErrObjectLocked is S3 refusing because of Object Lock: a version
	// under retention or legal hold, a locked write without a checksum,
	// or a bucket state Object Lock forbids. Never retried.
	ErrObjectLocked = errors.New("refused by Object Lock")
	// The transient ones: a part, a single put or a download range that
	// meets one of these is tried again, up to maxRetries times.
	ErrStalled    = errors.New("transfer stalled")
	ErrConnection = errors.New("connection broken")
	ErrServer     = errors.New("S3 server error")
	ErrThrottled  = errors.New("throttled by S3")
)

var sentinels = []error{ErrNotFound, ErrNoSuchBucket, ErrAccessDenied, ErrObjectLocked, ErrTruncated, ErrTLS, ErrStalled, ErrConnection, ErrServer, ErrThrottled, ErrEncrypted, ErrDecrypt}

// translate names the operation and object and maps the error to a
// sentinel where one fits, keeping the original error as the cause.
func translate(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	obj := bucket
	if key != "" {
		obj = bucket + "/" + key
	}
	return fmt.Errorf("%s %s: %w", op, obj, mark(err))
}

// mark puts the sentinel that fits err in front of it, unless err already
// carries one.
func mark(err error) error {
	switch s := kind(err); {
	case s == nil || errors.Is(err, s):
		return err
	case s == ErrObjectLocked:
		return fmt.Errorf("%w: %s: %w", ErrObjectLocked, lockRefusal(err), err)
	default:
		return fmt.Errorf("%w: %w", s, err)
	}
}

// lockRefusal says in plain words why Object Lock refused the request
// that err answers, "" when it did not.
func lockRefusal(err error) string {
	switch s3err.Of(err) {
	case s3err.BucketState:
		return "the bucket's versioning or Object Lock state does not allow this"
	case s3err.LockNeedsChecksum:
		return "S3 wants Content-MD5 or an x-amz-checksum header on writes under Object Lock; set checksumAlgorithm"
	case s3err.ObjectLocked:
		return "the object version is under retention or legal hold until its date"
	}
	return ""
}

// kind is the sentinel that fits err, nil when none does.
func kind(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	if awsconn.IsCertificateError(err) {
		return ErrTLS
	}
	switch r := s3err.Of(err); {
	case r == s3err.ObjectLocked, r == s3err.LockNeedsChecksum, r == s3err.BucketState:
		return ErrObjectLocked
	case r == s3err.NoSuchKey:
		return ErrNotFound
	case r == s3err.NoSuchBucket:
		return ErrNoSuchBucket
	case r == s3err.Denied, r == s3err.ClockSkew, r.BadCredentials():
		return ErrAccessDenied
	case r == s3err.RequestTimeout: // S3 waited too long for our bytes
		return ErrStalled
	case r == s3err.Throttled:
		return ErrThrottled
	case r == s3err.ServerError:
		return ErrServer
	case s3err.Answered(err):
		return nil // any other answer is the server's final word
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // our own timeout or cancellation, said by the error itself
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return ErrStalled // e.g. no response headers within the transport's backstop
	}
	if connectionError(err) {
		return ErrConnection
	}
	return nil
}

// connectionError is true for a connection that was reset, refused or
// closed before the answer was whole.
func connectionError(err error) bool {
	for _, e := range []error{io.ErrUnexpectedEOF, io.EOF, syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE, net.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

// isNotFound is true for a missing key (or a HEAD 404, which has no body).
func isNotFound(err error) bool { return kind(err) == ErrNotFound }

// cause returns the stall error when the context was cancelled by a stall
// timer, so the message says why instead of "context canceled".
func cause(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrStalled) {
		return fmt.Errorf("%w (%w)", c, err)
	}
	return err
}

// explain adds to a request's error what the doctor's line would say:
// for a refused certificate, why it is refused; for access denied, the
// permission (action on resource) to grant, to roleArn's role when it is
// set; for a missing bucket, how to make it. Velero shows these errors in
// the BSL's status and the backup's. ctx is the failed call's (not its
// request's, which may be spent): the TLS explanation makes a handshake.
func (s *Store) explain(ctx context.Context, err error, action, resource string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTLS):
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return explainTLS(ctx, s.cfg, s.facts.region, err)
	case errors.Is(err, ErrAccessDenied) && s.cfg.RoleARN != "":
		return finding.WithFix(s.asRole(err), "grant %s on %s to role %s (roleArn)", action, resource, s.cfg.RoleARN)
	case errors.Is(err, ErrAccessDenied):
		return denied(err, action, resource)
	case errors.Is(err, ErrNoSuchBucket):
		return finding.WithFix(err, "%s", missingBucketFix(s.cfg.Bucket))
	}
	return err
}

// missingBucketFix is what to do about a bucket that is not there, in
// doctor's line and in the error Velero shows alike.
func missingBucketFix(bucket string) string {
	return fmt.Sprintf("create it (`aws s3 mb s3://%s`, with --endpoint-url for an S3-compatible server; `mc mb`) or correct spec.objectStorage.bucket", bucket)
}

// arn names an S3 resource as IAM policies do: a bucket, or bucket/key.
func arn(bucket, key string) string {
	if key == "" {
		return "arn:aws:s3:::" + bucket
	}
	return "arn:aws:s3:::" + bucket + "/" + key
}

// objectsARN is the BSL's objects, the resource a grant should name.
func (s *Store) objectsARN(bucket string) string {
	return arn(bucket, folderOf(s.cfg.Prefix)+"*")
}
