package undelete

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/awsconn"
	"example.io/velero-plugin-s3csi/internal/s3err"
)

// s3API is the part of the S3 client undelete uses.
type s3API interface {
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ s3API = (*s3.Client)(nil)

// Sentinel errors: S3 and TLS errors are translated into these here, once.
var (
	ErrAccessDenied = errors.New("access denied")
	ErrCredentials  = errors.New("the server does not accept the credentials")
	ErrNoSuchBucket = errors.New("no such bucket")
	ErrTLS          = errors.New("TLS verification failed")
)

// The permissions each call needs, named in an access-denied error.
const (
	permList   = "s3:ListBucketVersions"
	permDelete = "s3:DeleteObjectVersion (on MinIO also s3:DeleteObject)"
)

// translate puts the sentinel that fits err in front of it, with a hint
// of what to do; perm is the permission the failed call needs.
func translate(err error, bucket, perm string) error {
	if err == nil {
		return nil
	}
	if awsconn.IsCertificateError(err) {
		return fmt.Errorf("%w (give the server's CA with --ca-cert): %w", ErrTLS, err)
	}
	switch r := s3err.Of(err); {
	case r == s3err.Denied, r == s3err.ClockSkew: // a skewed clock is a 403 too
		return fmt.Errorf("%w (the credentials need %s on bucket %s): %w", ErrAccessDenied, perm, bucket, err)
	case r.BadCredentials():
		return fmt.Errorf("%w (check --credentials-file and --profile): %w", ErrCredentials, err)
	case r == s3err.NoSuchBucket:
		return fmt.Errorf("%w %s: %w", ErrNoSuchBucket, bucket, err)
	}
	return err
}

// newClient builds the S3 client: path-style at o.S3URL, or AWS itself.
func newClient(ctx context.Context, o *Options) (*s3.Client, error) {
	var caPEM []byte
	if o.CACert != "" {
		var err error
		if caPEM, err = os.ReadFile(o.CACert); err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
	}
	tlsConf, err := awsconn.TLSConfig(caPEM, o.InsecureSkipTLSVerify)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert %s: %w", o.CACert, err)
	}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 30 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) { tr.TLSClientConfig = tlsConf })
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(hc),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.Retryables = append([]retry.IsErrorRetryable{awsconn.NoCertificateRetry}, so.Retryables...)
			})
		}),
	}
	region := o.Region
	if region == "" && o.S3URL != "" {
		region = config.DefaultRegion
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if o.profileSet || o.CredentialsFile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(o.Profile))
	}
	if o.CredentialsFile != "" {
		opts = append(opts,
			awsconfig.WithSharedCredentialsFiles([]string{o.CredentialsFile}),
			awsconfig.WithSharedConfigFiles([]string{o.CredentialsFile}))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration (profile %q): %w", o.Profile, err)
	}
	if cfg.Region == "" {
		return nil, usageError{errors.New("--region is required for AWS (or set AWS_REGION, or a region in the profile)")}
	}
	if o.CredentialsFile != "" {
		if err := awsconn.FileCredentials(ctx, &cfg, o.CredentialsFile, o.Profile); err != nil {
			return nil, fmt.Errorf("--credentials-file %s, profile %q: %w", o.CredentialsFile, o.Profile, err)
		}
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if o.S3URL != "" {
			so.BaseEndpoint = aws.String(o.S3URL)
			so.UsePathStyle = true
		}
	}), nil
}

// listVersions returns every version and delete marker under prefix.
func listVersions(ctx context.Context, c s3API, bucket, prefix string) ([]Version, error) {
	var out []Version
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		page, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, translate(err, bucket, permList))
		}
		for _, v := range page.Versions {
			out = append(out, Version{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId),
				IsLatest: aws.ToBool(v.IsLatest), Size: aws.ToInt64(v.Size), LastModified: aws.ToTime(v.LastModified)})
		}
		for _, m := range page.DeleteMarkers {
			out = append(out, Version{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId),
				IsLatest: aws.ToBool(m.IsLatest), DeleteMarker: true, LastModified: aws.ToTime(m.LastModified)})
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		if page.NextKeyMarker == nil && page.NextVersionIdMarker == nil {
			return nil, fmt.Errorf("list versions of s3://%s/%s: the server said the list goes on but gave no marker to go on from", bucket, prefix)
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// removeMarker deletes one delete marker by its version id. A marker that
// is gone already counts as removed.
func removeMarker(ctx context.Context, c s3API, bucket, key, versionID string) error {
	_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return fmt.Errorf("remove delete marker %s of s3://%s/%s: %w", versionID, bucket, key, translate(err, bucket, permDelete))
	}
	return nil
}
