// Package s3err reads an S3 or STS error once: the code, message and HTTP
// status the server answered, as one of the few reasons this project acts
// on. The object store's sentinels, doctor's credential and region lines,
// the role's refusals, the Object Lock checks and undelete all ask it;
// nothing else in the project compares S3 error codes.
package s3err

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Reason is what a server's answer means to this project.
type Reason int

const (
	// Other is no server answer, or one the project does not act on.
	Other Reason = iota
	// UnknownAccessKey: the server knows no such access key
	// (InvalidAccessKeyId; STS's InvalidClientTokenId).
	UnknownAccessKey
	// WrongSecret: the secret key does not match the access key
	// (SignatureDoesNotMatch).
	WrongSecret
	// BadToken: the session token is expired or invalid.
	BadToken
	// ClockSkew: the server refuses the signature's time.
	ClockSkew
	// Denied: the identity may not do this (AccessDenied, Forbidden, an
	// answer of 401 or 403 without a code that says more).
	Denied
	// NoSuchKey: the key, or the multipart upload, is not there (also a
	// HEAD's bare 404).
	NoSuchKey
	// NoSuchBucket: the bucket is not there.
	NoSuchBucket
	// ObjectLocked: a version under retention or legal hold.
	ObjectLocked
	// LockNeedsChecksum: a write under Object Lock without Content-MD5 or
	// a checksum header.
	LockNeedsChecksum
	// BucketState: the bucket's versioning or Object Lock state does not
	// allow the request.
	BucketState
	// LockNotConfigured: the bucket has no Object Lock configuration, or
	// the server has no Object Lock at all.
	LockNotConfigured
	// WrongRegion: the request is signed for a region the bucket is not
	// in.
	WrongRegion
	// RequestTimeout: the server waited too long for the request's bytes.
	RequestTimeout
	// Throttled: slow down (SlowDown and the SDK's other throttle codes,
	// HTTP 429).
	Throttled
	// ServerError: a 5xx worth another try (500, 502, 503, 504).
	ServerError
)

var names = map[Reason]string{
	Other: "other", UnknownAccessKey: "unknown access key", WrongSecret: "wrong secret key",
	BadToken: "bad session token", ClockSkew: "clock skew", Denied: "denied", NoSuchKey: "no such key",
	NoSuchBucket: "no such bucket", ObjectLocked: "object locked", LockNeedsChecksum: "lock needs a checksum",
	BucketState: "bucket state", LockNotConfigured: "lock not configured", WrongRegion: "wrong region",
	RequestTimeout: "request timeout", Throttled: "throttled", ServerError: "server error",
}

func (r Reason) String() string { return names[r] }

// BadCredentials is true when the server refused the keys themselves,
// not what they may do.
func (r Reason) BadCredentials() bool {
	return r == UnknownAccessKey || r == WrongSecret || r == BadToken
}

// Of is the reason of err, Other when err carries no server answer the
// project acts on.
func Of(err error) Reason {
	if err == nil {
		return Other
	}
	code, msg, status := answer(err)
	lower := strings.ToLower(msg)
	switch {
	case code == "InvalidBucketState":
		return BucketState
	case code == "MissingContentMD5",
		code == "InvalidRequest" && strings.Contains(lower, "content-md5") && strings.Contains(lower, "object lock"):
		return LockNeedsChecksum
	case code == "ObjectLocked", (code == "AccessDenied" || code == "InvalidRequest") && mentionsLock(lower):
		return ObjectLocked
	}
	switch code {
	case "InvalidAccessKeyId", "InvalidClientTokenId":
		return UnknownAccessKey
	case "SignatureDoesNotMatch":
		return WrongSecret
	case "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		return BadToken
	case "RequestTimeTooSkewed":
		return ClockSkew
	case "AccessDenied":
		// MinIO's STS answers a wrong secret and an unknown key with
		// AccessDenied and S3's message for each.
		switch {
		case strings.Contains(lower, "signature we calculated does not match"):
			return WrongSecret
		case strings.Contains(lower, "access key id you provided does not exist"):
			return UnknownAccessKey
		}
		return Denied
	case "Forbidden", "AllAccessDisabled":
		return Denied
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return NoSuchKey
	case "NoSuchBucket":
		return NoSuchBucket
	case "ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound", "NoSuchObjectLockConfiguration", "NotImplemented":
		return LockNotConfigured
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "InvalidRegion", "IncorrectEndpoint":
		return WrongRegion
	case "RequestTimeout", "RequestTimeoutException":
		return RequestTimeout
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok && code != "" {
		return Throttled
	}
	switch status {
	case 0:
		return Other // no answer came
	case http.StatusNotFound:
		return NoSuchKey
	case http.StatusUnauthorized, http.StatusForbidden:
		return Denied
	case http.StatusMovedPermanently:
		return WrongRegion // a HEAD to the wrong region: 301 without a body
	case http.StatusTooManyRequests:
		return Throttled
	}
	if _, ok := retry.DefaultRetryableHTTPStatusCodes[status]; ok {
		return ServerError
	}
	return Other
}

// Answered is true when err carries an answer of the server (a code or an
// HTTP status), false for a network error, a timeout or no answer at all.
func Answered(err error) bool {
	code, _, status := answer(err)
	return code != "" || status != 0
}

// Code names the server's answer in err for a message: its error code, or
// its HTTP status when it has none, or the error's text when no answer
// came.
func Code(err error) string {
	code, _, status := answer(err)
	switch {
	case code != "":
		return code
	case status != 0:
		return fmt.Sprintf("HTTP %d", status)
	case err != nil:
		return err.Error()
	}
	return ""
}

// Message is the server's message in err, "" when it has none.
func Message(err error) string {
	_, msg, _ := answer(err)
	return msg
}

// ExpectedRegion is the region a server says it wants in its message:
// "the region 'us-east-1' is wrong; expecting 'eu-west-1'" (AWS, MinIO),
// with double quotes (versitygw); "" when it names none.
func ExpectedRegion(err error) string {
	msg := Message(err)
	for _, q := range []string{"'", `"`} {
		_, after, ok := strings.Cut(msg, "expecting "+q)
		if !ok {
			continue
		}
		if region, _, ok := strings.Cut(after, q); ok {
			return region
		}
	}
	return ""
}

func answer(err error) (code, msg string, status int) {
	var api smithy.APIError
	if errors.As(err, &api) {
		code, msg = api.ErrorCode(), api.ErrorMessage()
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	return code, msg, status
}

// mentionsLock is true for an error message (lower case) about Object
// Lock: MinIO's "Object is WORM protected and cannot be overwritten", AWS's
// "Access Denied because object protected by object lock". AWS's "is not
// authorized to perform: s3:PutObjectRetention" is a missing permission,
// not a locked version.
func mentionsLock(msg string) bool {
	if strings.Contains(msg, "not authorized to perform") {
		return false
	}
	for _, word := range []string{"worm", "retention", "object lock", "legal hold"} {
		if strings.Contains(msg, word) {
			return true
		}
	}
	return false
}
