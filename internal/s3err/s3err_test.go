package s3err

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// answer is an error built the way aws-sdk-go-v2 builds a server's answer:
// an OperationError around a ResponseError with the status, around the
// API error with the code and message (none for a HEAD, which has no body).
func served(status int, code, msg string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: msg}
	if code == "" {
		inner = fmt.Errorf("http %d", status)
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: inner},
	}}
}

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Reason
	}{
		{served(403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records."), UnknownAccessKey},
		{served(403, "InvalidClientTokenId", "The security token included in the request is invalid."), UnknownAccessKey},
		{served(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"), WrongSecret},
		{served(403, "AccessDenied", "The request signature we calculated does not match the signature you provided."), WrongSecret}, // MinIO's STS
		{served(403, "AccessDenied", "The Access Key Id you provided does not exist in our records."), UnknownAccessKey},             // MinIO's STS
		{served(400, "ExpiredToken", ""), BadToken},
		{served(400, "InvalidToken", ""), BadToken},
		{served(400, "TokenRefreshRequired", ""), BadToken},
		{served(403, "RequestTimeTooSkewed", ""), ClockSkew},
		{served(403, "AccessDenied", "Access Denied."), Denied},
		{served(403, "AccessDenied", "User: x is not authorized to perform: s3:PutObjectRetention"), Denied},
		{served(403, "", ""), Denied}, // a HEAD's 403
		{served(401, "", ""), Denied},
		{served(404, "NoSuchKey", ""), NoSuchKey},
		{served(404, "NoSuchUpload", ""), NoSuchKey},
		{served(404, "", ""), NoSuchKey}, // a HEAD's 404
		{served(404, "NoSuchBucket", ""), NoSuchBucket},
		{served(400, "ObjectLocked", ""), ObjectLocked},
		{served(403, "AccessDenied", "Object is WORM protected and cannot be overwritten"), ObjectLocked},
		{served(400, "InvalidRequest", "Access Denied because object protected by object lock."), ObjectLocked},
		{served(400, "InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"), LockNeedsChecksum},
		{served(400, "MissingContentMD5", ""), LockNeedsChecksum},
		{served(409, "InvalidBucketState", ""), BucketState},
		{served(404, "ObjectLockConfigurationNotFoundError", ""), LockNotConfigured},
		{served(501, "NotImplemented", ""), LockNotConfigured},
		{served(400, "AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong; expecting 'eu-west-1'"), WrongRegion},
		{served(301, "PermanentRedirect", ""), WrongRegion},
		{served(301, "", ""), WrongRegion},
		{served(400, "RequestTimeout", ""), RequestTimeout},
		{served(503, "SlowDown", ""), Throttled},
		{served(429, "", ""), Throttled},
		{served(500, "InternalError", ""), ServerError},
		{served(502, "", ""), ServerError},
		{served(400, "InvalidArgument", ""), Other},
		{served(501, "", ""), Other},
		{errors.New("connection reset by peer"), Other},
		{nil, Other},
	} {
		t.Run(Code(tc.err)+" "+Message(tc.err), func(t *testing.T) {
			assert.Equal(t, tc.want, Of(tc.err))
			assert.Equal(t, tc.want, Of(fmt.Errorf("put b/k: %w", tc.err)), "wrapped, the same")
		})
	}
}

func TestBadCredentials(t *testing.T) {
	for r := Other; r <= ServerError; r++ {
		assert.Equal(t, r == UnknownAccessKey || r == WrongSecret || r == BadToken, r.BadCredentials(), r.String())
		assert.NotEmpty(t, r.String())
	}
}

func TestCodeAndRegion(t *testing.T) {
	err := served(400, "AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong; expecting 'eu-west-1'")
	assert.Equal(t, "AuthorizationHeaderMalformed", Code(err))
	assert.Equal(t, "eu-west-1", ExpectedRegion(err))
	assert.Equal(t, "eu-west-1", ExpectedRegion(served(400, "AuthorizationHeaderMalformed", `region "us-east-1" is wrong, expecting "eu-west-1"`)), "versitygw's quotes")
	assert.Empty(t, ExpectedRegion(served(301, "PermanentRedirect", "")))
	assert.Equal(t, "HTTP 404", Code(served(404, "", "")))
	assert.Equal(t, "boom", Code(errors.New("boom")))
	assert.True(t, Answered(served(404, "", "")))
	assert.False(t, Answered(errors.New("boom")))
}

// TestCodesAreReadOnlyHere: no production file outside this package
// compares an S3 error code: a string literal that is one of the codes
// above appears only here (tests and the test servers may name them).
func TestCodesAreReadOnlyHere(t *testing.T) {
	codes := map[string]bool{}
	for _, c := range []string{"AccessDenied", "InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "TokenRefreshRequired", "RequestTimeTooSkewed", "AllAccessDisabled", "NoSuchKey", "NoSuchUpload", "NoSuchBucket",
		"ObjectLocked", "MissingContentMD5", "InvalidBucketState", "ObjectLockConfigurationNotFoundError", "AuthorizationHeaderMalformed",
		"PermanentRedirect", "InvalidRegion", "IncorrectEndpoint", "SlowDown"} {
		codes[c] = true
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case ".git", "hack", "e2e", filepath.Join("internal", "testenv"):
				return filepath.SkipDir // tools and test servers, not the plugin
			}
			if path == here {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && codes[s] {
					t.Errorf("%s compares S3 error code %q: ask internal/s3err instead", rel, s)
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 50, "the walk found the project's files")
}
