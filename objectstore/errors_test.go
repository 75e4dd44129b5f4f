package objectstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/awsconn"
	"example.io/velero-plugin-s3csi/internal/backoff"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

// The errors below are built the way aws-sdk-go-v2 builds them (an
// OperationError around a ResponseError or a RequestSendError): a real
// server cannot be made to answer each of them on demand. The fault
// tests (faults_test.go) meet the common ones from a real server.

func operation(err error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart", Err: err}
}

// answered is an S3 error answer; code "" is one without a body (HEAD).
func answered(status int, code string) error {
	return answeredWith(status, code, "from the table")
}

// answeredWith is an S3 error answer with the server's message.
func answeredWith(status int, code, message string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: message}
	if code == "" {
		inner = fmt.Errorf("http %d", status)
	}
	return operation(&awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: inner,
	}, RequestID: "req"})
}

// unsent is a request that failed on the way (its connection, TLS, or a
// cancellation): the SDK wraps it in a response error of status 0.
func unsent(err error) error {
	return operation(&awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{}},
		Err:      &smithyhttp.RequestSendError{Err: &url.Error{Op: "Put", URL: "https://s3.example/b/k", Err: err}},
	}})
}

func sysErr(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool { return true }

// stalled is what an attempt returns when its stall timer cancelled it.
func stalled() error {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("%w: sending part 3 to S3 made no progress for 1s", ErrStalled))
	return cause(ctx, unsent(context.Canceled))
}

func TestErrorTranslation(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		sentinel error // nil: none fits
		retry    retryCause
	}{
		{"NoSuchKey", answered(404, "NoSuchKey"), ErrNotFound, permanent},
		{"HEAD 404 without a body", answered(404, ""), ErrNotFound, permanent},
		{"NoSuchUpload", answered(404, "NoSuchUpload"), ErrNotFound, permanent},
		{"NoSuchBucket", answered(404, "NoSuchBucket"), ErrNoSuchBucket, permanent},
		{"AccessDenied", answered(403, "AccessDenied"), ErrAccessDenied, permanent},
		{"InvalidAccessKeyId", answered(403, "InvalidAccessKeyId"), ErrAccessDenied, permanent},
		{"SignatureDoesNotMatch", answered(403, "SignatureDoesNotMatch"), ErrAccessDenied, permanent},
		{"HEAD 403 without a body", answered(403, ""), ErrAccessDenied, permanent},
		{"503 SlowDown", answered(503, "SlowDown"), ErrThrottled, causeThrottled},
		{"429 TooManyRequests", answered(429, "TooManyRequests"), ErrThrottled, causeThrottled},
		{"500 InternalError", answered(500, "InternalError"), ErrServer, causeServer},
		{"503 ServiceUnavailable", answered(503, "ServiceUnavailable"), ErrServer, causeServer},
		{"502 without a body", answered(502, ""), ErrServer, causeServer},
		{"400 RequestTimeout: S3 waited for our bytes", answered(400, "RequestTimeout"), ErrStalled, causeStall},
		{"400 InvalidArgument", answered(400, "InvalidArgument"), nil, permanent},
		{"412 PreconditionFailed: the object changed", answered(412, "PreconditionFailed"), nil, permanent},
		{"501 NotImplemented", answered(501, "NotImplemented"), nil, permanent},
		{"stall", stalled(), ErrStalled, causeStall},
		{"no response headers in time", unsent(timeoutErr{}), ErrStalled, causeStall},
		{"connection reset", unsent(sysErr("read", syscall.ECONNRESET)), ErrConnection, causeReset},
		{"connection refused: the server is down", unsent(sysErr("dial", syscall.ECONNREFUSED)), ErrConnection, causeReset},
		{"broken pipe while sending", unsent(sysErr("write", syscall.EPIPE)), ErrConnection, causeReset},
		{"closed before the answer", unsent(io.EOF), ErrConnection, causeReset},
		{"download body cut short", fmt.Errorf("%w: S3 sent 1 of 2 bytes", io.ErrUnexpectedEOF), ErrConnection, causeReset},
		{"TLS: unknown authority", unsent(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), ErrTLS, permanent},
		{"TLS: wrong host name", unsent(x509.HostnameError{Host: "s3.example"}), ErrTLS, permanent},
		{"cancelled by the caller", unsent(context.Canceled), nil, permanent},
		{"our own deadline", unsent(context.DeadlineExceeded), nil, permanent},
		{"truncated body from Velero", fmt.Errorf("%w: cut", ErrTruncated), ErrTruncated, permanent},
		{"MinIO: version under retention", answeredWith(400, "InvalidRequest", "Object is WORM protected and cannot be overwritten"), ErrObjectLocked, permanent},
		{"AWS: version under retention", answeredWith(403, "AccessDenied", "Access Denied because object protected by object lock."), ErrObjectLocked, permanent},
		{"legal hold", answeredWith(403, "AccessDenied", "Object is under legal hold"), ErrObjectLocked, permanent},
		{"ObjectLocked code", answeredWith(409, "ObjectLocked", "locked"), ErrObjectLocked, permanent},
		{"AWS: lock write without checksum", answeredWith(400, "InvalidRequest",
			"Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"), ErrObjectLocked, permanent},
		{"MinIO: lock write without checksum", answeredWith(400, "MissingContentMD5", "Missing required header for this request: Content-Md5."), ErrObjectLocked, permanent},
		{"409 InvalidBucketState", answeredWith(409, "InvalidBucketState", "Object Lock configuration cannot be enabled on existing buckets"), ErrObjectLocked, permanent},
		{"AccessDenied about something else", answeredWith(403, "AccessDenied", "Access Denied."), ErrAccessDenied, permanent},
		{"AWS: a missing permission that names retention", answeredWith(403, "AccessDenied",
			"User: arn:aws:iam::123456789012:user/velero is not authorized to perform: s3:PutObjectRetention on resource: \"arn:aws:s3:::b/k\" because no identity-based policy allows the s3:PutObjectRetention action"),
			ErrAccessDenied, permanent},
		{"InvalidRequest about something else", answeredWith(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"), nil, permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate("upload part 3 of", "b", "k", tt.err)
			require.Error(t, got)
			assert.True(t, strings.HasPrefix(got.Error(), "upload part 3 of b/k: "), got.Error())
			assert.ErrorIs(t, got, tt.err, "the cause is kept")
			for _, s := range sentinels {
				if s == tt.sentinel {
					assert.ErrorIs(t, got, s)
					assert.Equal(t, 1, strings.Count(got.Error(), s.Error()), "said once: %s", got)
				} else {
					assert.NotErrorIs(t, got, s)
				}
			}
			assert.Equal(t, tt.retry, classify(tt.err), "retried or final")
			assert.Equal(t, tt.retry, classify(got), "the same after translation")
			if tt.sentinel == ErrTLS {
				assert.Equal(t, "false", fmt.Sprint(awsconn.NoCertificateRetry.IsErrorRetryable(tt.err)), "the SDK does not retry it either")
			}
		})
	}
	assert.Nil(t, translate("get", "b", "k", nil))
}

// A refusal by Object Lock says so plainly, before the server's words.
func TestObjectLockRefusalSaysWhy(t *testing.T) {
	for msg, want := range map[error]string{
		answeredWith(400, "InvalidRequest", "Object is WORM protected and cannot be overwritten"):        "delete b/k: refused by Object Lock: the object version is under retention or legal hold until its date: ",
		answeredWith(400, "MissingContentMD5", "Missing required header for this request: Content-Md5."): "delete b/k: refused by Object Lock: S3 wants Content-MD5 or an x-amz-checksum header on writes under Object Lock; set checksumAlgorithm: ",
		answeredWith(409, "InvalidBucketState", "x"):                                                     "delete b/k: refused by Object Lock: the bucket's versioning or Object Lock state does not allow this: ",
	} {
		got := translate("delete", "b", "k", msg)
		assert.True(t, strings.HasPrefix(got.Error(), want), got.Error())
		assert.NotErrorIs(t, got, ErrAccessDenied)
	}
}

// A unit of work is retried after transient failures only, and the error
// after the last retry says how many of each it met.
func TestTriesCountAndGiveUp(t *testing.T) {
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	newTries := func(maxRetries int) (*tries, *transfer) {
		tr := startTransfer(logs.Logger, "upload", 0, time.Minute)
		return &tries{log: logs.Logger, tr: tr, unit: "part", max: maxRetries,
			wait: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}.Start()}, tr
	}
	ctx := context.Background()

	tr, transfer := newTries(2)
	require.NoError(t, tr.again(ctx, stalled(), nil))
	require.NoError(t, tr.again(ctx, unsent(sysErr("read", syscall.ECONNRESET)), nil))
	err := tr.again(ctx, stalled(), nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrStalled)
	assert.True(t, strings.HasPrefix(err.Error(), "gave up after 3 attempts (stalls 2, resets 1, 5xx 0, throttled 0): transfer stalled: "), err.Error())
	assert.Equal(t, tally{0, 2, 1, 0, 0}, transfer.retries())
	retried := 0
	for _, e := range logs.Entries() {
		if e.Message == "retrying after a transient failure" {
			retried++
			assert.Equal(t, "part", e.Data["unit"])
			assert.Contains(t, []string{"stall", "reset"}, e.Data["cause"])
		}
	}
	assert.Equal(t, 2, retried)

	tr, _ = newTries(5)
	denied := answered(403, "AccessDenied")
	assert.Same(t, denied, tr.again(ctx, denied, nil), "a permanent error ends the unit as it is")
	assert.Zero(t, tr.failed)

	tr, _ = newTries(5)
	over, cancel := context.WithCancel(ctx)
	cancel()
	reset := unsent(sysErr("read", syscall.ECONNRESET))
	assert.Same(t, reset, tr.again(over, reset, nil), "nothing is retried once the transfer is over")

	tr, _ = newTries(0)
	err = tr.again(ctx, answered(503, "SlowDown"), nil)
	assert.ErrorIs(t, err, ErrThrottled)
	assert.Contains(t, err.Error(), "gave up after 1 attempts (stalls 0, resets 0, 5xx 0, throttled 1)")
}

// The SDK's own retries wait as retryWait says.
func TestSDKBackoffFollowsPolicy(t *testing.T) {
	p := backoff.Policy{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	d := sdkBackoff(p)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 4 * time.Second} {
		got, err := d.BackoffDelay(attempt, errors.New("x"))
		require.NoError(t, err)
		assert.Equal(t, want, got, "attempt %d", attempt)
	}
}
