package objectstore

import (
	"context"
	"errors"
	"fmt"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Sentinel errors: S3 errors are translated into these once, here, and
// callers test them with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrNoSuchBucket = errors.New("no such bucket")
	ErrAccessDenied = errors.New("access denied")
	ErrTruncated    = errors.New("truncated upload")
	ErrStalled      = errors.New("transfer stalled")
)

// translate names the operation and object and maps the S3 error to a
// sentinel where one fits, keeping the SDK's error as the cause.
func translate(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	obj := bucket
	if key != "" {
		obj = bucket + "/" + key
	}
	if s := sentinel(err); s != nil {
		return fmt.Errorf("%s %s: %w: %w", op, obj, s, err)
	}
	return fmt.Errorf("%s %s: %w", op, obj, err)
}

func sentinel(err error) error {
	if errors.Is(err, ErrStalled) {
		return nil // already said
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return ErrNotFound
		case "NoSuchBucket":
			return ErrNoSuchBucket
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden", "InvalidToken", "ExpiredToken":
			return ErrAccessDenied
		}
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		switch resp.HTTPStatusCode() {
		case 404:
			return ErrNotFound
		case 401, 403:
			return ErrAccessDenied
		}
	}
	return nil
}

// isNotFound is true for a missing key (or a HEAD 404, which has no body).
func isNotFound(err error) bool { return errors.Is(sentinel(err), ErrNotFound) }

// cause returns the stall error when the context was cancelled by the
// stall guard, so the message says why instead of "context canceled".
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrStalled) {
		return fmt.Errorf("%w (%w)", c, err)
	}
	return err
}
