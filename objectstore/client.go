package objectstore

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/awsconn"
)

// s3API is the part of the S3 client the store uses.
type s3API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListMultipartUploads(context.Context, *s3.ListMultipartUploadsInput, ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// presignAPI signs GET URLs.
type presignAPI interface {
	PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

var (
	_ s3API      = (*s3.Client)(nil)
	_ presignAPI = (*s3.PresignClient)(nil)
)

// newHTTPClient applies caCert and insecureSkipTLSVerify to every
// connection: the S3 client, the presign client and the credential
// providers (STS, SSO) all share it through aws.Config.
func newHTTPClient(c *config.ObjectStore) (*awshttp.BuildableClient, error) {
	tlsConf, err := awsconn.TLSConfig(c.CACert, c.InsecureSkipTLSVerify)
	if err != nil {
		return nil, fmt.Errorf("caCert: no certificate could be added")
	}
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = c.RequestTimeout }). // a connection is what every request starts with
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = tlsConf
			tr.MaxIdleConnsPerHost = 2*c.Concurrency + 4
			tr.ResponseHeaderTimeout = c.ResponseHeaderTimeout() // a backstop: the stall timer fires first, with a clear error
			// Per connection, outside memoryBudget: big enough for few
			// syscalls, small enough that many connections stay cheap.
			tr.WriteBufferSize = 64 << 10
			tr.ReadBufferSize = 64 << 10
			tr.DisableCompression = true // objects are already gzip; keep bytes as stored
		}), nil
}

// loadAWSConfig resolves credentials: a credentialsFile from the BSL is
// authoritative for its profile (Velero hands one per BSL), else the SDK's
// default chain (environment, web identity, shared files, instance role).
// With roleArn, those credentials assume the role, and the role's are used.
func loadAWSConfig(ctx context.Context, c *config.ObjectStore, hc *awshttp.BuildableClient) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(hc),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.MaxRetries + 1
				o.Backoff = sdkBackoff(retryWait)
				o.RateLimiter = ratelimit.None // a backup must not fail on a spent retry quota
				o.Retryables = append([]retry.IsErrorRetryable{awsconn.NoCertificateRetry}, o.Retryables...)
			})
		}),
	}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	if c.CredentialsFile != "" {
		opts = append(opts,
			awsconfig.WithSharedCredentialsFiles([]string{c.CredentialsFile}),
			awsconfig.WithSharedConfigFiles([]string{c.CredentialsFile}))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration (profile %q, credentialsFile %q): %w", c.Profile, c.CredentialsFile, err)
	}
	if c.CredentialsFile != "" {
		if err := fileCredentials(ctx, &cfg, c); err != nil {
			return aws.Config{}, err
		}
	}
	if err := assumeRole(ctx, &cfg, c); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// fileCredentials makes the keys of c's credentialsFile cfg's credentials
// and reads them once, so that a bad file is an Init error.
func fileCredentials(ctx context.Context, cfg *aws.Config, c *config.ObjectStore) error {
	profile := c.Profile
	if profile == "" {
		profile = "default"
	}
	if err := awsconn.FileCredentials(ctx, cfg, c.CredentialsFile, profile); err != nil {
		return fmt.Errorf("credentialsFile %q, profile %q: %w", c.CredentialsFile, profile, err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("credentialsFile %q, profile %q: %w", c.CredentialsFile, profile, err)
	}
	return nil
}

// newS3Client builds a client for endpoint ("" is AWS itself).
func newS3Client(cfg aws.Config, c *config.ObjectStore, endpoint string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = c.ForcePathStyle
		// Never aws-chunked trailers nor checksums the user did not ask
		// for: many S3-compatible servers reject them. The store computes
		// the checksum it was told to and sends it as a plain header.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// lookupRegion asks AWS where the bucket lives (no region, no s3Url).
func lookupRegion(ctx context.Context, cfg aws.Config, c *config.ObjectStore) (string, error) {
	cfg.Region = config.DefaultRegion
	region, err := manager.GetBucketRegion(ctx, newS3Client(cfg, c, ""), c.Bucket)
	if err != nil {
		return "", fmt.Errorf("find region of bucket %q (set region to skip this): %w", c.Bucket, err)
	}
	return region, nil
}
