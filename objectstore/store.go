// Package objectstore is the example.io/s3compat ObjectStore: Velero's
// backups, logs and metadata in any S3-compatible bucket.
package objectstore

import (
	"context"
	"crypto/md5" //nolint:gosec // SSE-C wants the key's MD5
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/logging"
)

// Name is the provider name users put in a BackupStorageLocation.
const Name = "example.io/s3compat"

// Store implements Velero's ObjectStore over S3. Build it with New and
// call Init before anything else; Init may be called again.
type Store struct {
	log     logrus.FieldLogger
	kube    kube.Reader
	cfg     *config.ObjectStore // as parsed (with the keys Init read); never written after
	facts   bucketFacts         // what Init learned of the bucket from S3
	awsCfg  aws.Config          // the credentials and HTTP client the S3 clients were built from
	s3      s3API
	presign presignAPI
	sse     sse
	// dataOpts apply to requests that carry object data: the store
	// retries them itself (see tries), and over TLS the payload goes
	// UNSIGNED-PAYLOAD (TLS already guards it; hashing it costs a third of
	// an upload's CPU), over plain http it stays signed.
	dataOpts []func(*s3.Options)
	// spoolOK: the spool folder took a file at Init, so parts may go
	// there to spare the memory budget, not only when they must.
	spoolOK bool
}

var _ veleroplugin.ObjectStore = (*Store)(nil)

// New returns a Store that logs through log (the framework's logger) and
// reads its ConfigMap and the SSE-C key's Secret through k.
func New(log logrus.FieldLogger, k kube.Reader) *Store {
	return &Store{log: log, kube: k}
}

// Init reads the plugin ConfigMap, parses and checks the BSL config over
// it, checks the spool folder, reads the SSE-C key's Secret and the age
// identity (Secret or file) if they are named, then builds the S3 clients
// and sets the process's memory budget.
// Its S3 requests: the bucket's region on AWS when neither region nor
// s3Url is set; with objectLockMode, the bucket's versioning and Object
// Lock state, which must both be on; without it, once per process and
// bucket, a best-effort look at the bucket's default retention (logged).
func (s *Store) Init(cfg map[string]string) error {
	// Velero's call carries no context: Init is where one starts.
	root := context.Background()
	pc, err := s.kube.PluginConfig(root, veleroplugin.KindObjectStore, Name) // within kube.Timeout
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	c, err := config.ParseObjectStore(config.Layers(pc, "BSL config", cfg)...)
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	logging.Apply(s.log, c.LogLevel)
	if err := s.checkSpool(c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(root, c.RequestTimeout)
	defer cancel()
	if err := s.readKeys(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	hc, err := newHTTPClient(c)
	if err != nil {
		return err
	}
	if c.CredentialsFile != "" {
		if _, err := checkCredentialsFile(c); err != nil { // the SDK would pass over a misspelt key in silence
			return fmt.Errorf("%s: %w", Name, err)
		}
	}
	awsCfg, err := loadAWSConfig(ctx, c, hc)
	if err != nil {
		return err
	}
	facts := newFacts(c)
	if c.RegionLookup {
		if facts.region, err = lookupRegion(ctx, awsCfg, c); err != nil {
			return err
		}
	}
	awsCfg.Region = facts.region
	client := newS3Client(awsCfg, c, c.S3URL)
	retention, err := s.checkLock(root, c, client)
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	if retention {
		facts = facts.withRetention(c)
	}
	s.presign = s3.NewPresignClient(client)
	if c.PublicURL != "" {
		s.presign = s3.NewPresignClient(newS3Client(awsCfg, c, c.PublicURL))
	}
	s.s3, s.cfg, s.facts, s.awsCfg, s.sse = client, c, facts, awsCfg, newSSE(c)
	s.dataOpts = []func(*s3.Options){oneAttempt}
	if !strings.HasPrefix(c.S3URL, "http://") {
		s.dataOpts = append(s.dataOpts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	}
	buffers.resize(c.MemoryBudget) // the latest Init's budget is the process's
	pc.Log(s.log, facts.fields(c), "object store settings (value and where it came from)")
	s.warnNoS3URL(c)
	return nil
}

// readKeys reads the keys the BSL names outside its config: the SSE-C
// key's Secret, the minisign signing key (Secret or file), and the age identities that open encrypted objects, from
// their Secret or file. Both are read at every Init, so a rotated Secret
// applies at the next backup.
func (s *Store) readKeys(ctx context.Context, c *config.ObjectStore) error {
	ns := kube.VeleroNamespace()
	if ref := c.CustomerKeySecret; ref.Name != "" {
		data, readErr := s.kube.Secret(ctx, ns, ref.Name)
		if err := c.SetCustomerKeyFromSecret(ns, data, readErr); err != nil {
			return err
		}
	}
	if ref := c.SigningKeySecret; ref.Name != "" {
		data, readErr := s.kube.Secret(ctx, ns, ref.Name)
		if err := c.SetSigningKeyFromSecret(ns, data, readErr); err != nil {
			return err
		}
	} else if err := c.LoadSigningKeyFile(); err != nil {
		return err
	}
	if ref := c.EncryptionIdentitySecret; ref.Name != "" {
		data, readErr := s.kube.Secret(ctx, ns, ref.Name)
		return c.SetIdentitiesFromSecret(ns, data, readErr)
	}
	return c.LoadIdentityFile()
}

// noS3URLWarned holds the bucket/prefix locations already warned about.
var noS3URLWarned sync.Map

// warnNoS3URL warns once per process and location when s3Url is empty:
// Velero's own repository code (kopia: file-system backups, the CSI data
// mover) reads the BSL itself, and for a provider other than
// velero.io/aws, azure or gcp it takes the S3 backend only when s3Url is
// set (GetBackendType in pkg/repository/config).
func (s *Store) warnNoS3URL(c *config.ObjectStore) {
	if c.S3URL != "" {
		return
	}
	if _, seen := noS3URLWarned.LoadOrStore(c.Bucket+"/"+c.Prefix, true); seen {
		return
	}
	s.log.WithFields(logrus.Fields{"bucket": c.Bucket, "prefix": c.Prefix}).Warn(
		"s3Url is not set: Velero's file-system backups and CSI data mover on this BSL will fail, " +
			"since Velero's repository code uses its S3 backend for provider " + Name + " only when s3Url is set; " +
			"on AWS set s3Url to https://s3.<region>.amazonaws.com")
}

// ObjectExists is false only when S3 says the key is not there; any other
// failure, a missing bucket among them, is an error.
func (s *Store) ObjectExists(bucket, key string) (bool, error) {
	ctx := context.Background() // Velero's call carries no context
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	s.sse.applyHead(in)
	_, err := s.s3.HeadObject(rctx, in)
	if err == nil {
		bucketsSeen.Store(bucket, time.Now())
		return true, nil
	}
	if !isNotFound(err) {
		return false, s.explain(ctx, translate("check existence of", bucket, key, err), "s3:GetObject", s.objectsARN(bucket))
	}
	// A HEAD 404 carries no body, so a missing bucket looks the same: the
	// bucket is asked for too, unless this process saw it moments ago
	// (Velero asks for several keys in a row, most of them missing).
	if seen, ok := bucketsSeen.Load(bucket); ok && time.Since(seen.(time.Time)) < bucketSeenFor {
		return false, nil
	}
	if _, berr := s.s3.HeadBucket(rctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); berr != nil {
		if isNotFound(berr) {
			return false, s.explain(ctx, fmt.Errorf("check existence of %s/%s: %w", bucket, key, ErrNoSuchBucket), "", "")
		}
		return false, s.explain(ctx, translate("check bucket of", bucket, key, berr), "s3:ListBucket", arn(bucket, ""))
	}
	bucketsSeen.Store(bucket, time.Now())
	return false, nil
}

// bucketsSeen holds when this process last saw each bucket exist (an
// object in it, or HeadBucket): for bucketSeenFor after that a missing
// key's 404 is taken to be the key's.
var bucketsSeen sync.Map

const bucketSeenFor = 10 * time.Second

// ListCommonPrefixes returns the full prefixes (such as backups/b1/) under
// prefix up to the next delimiter. The first in a process runs the stale
// upload sweep beside it (sweep.go).
func (s *Store) ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error) {
	ctx := context.Background() // Velero's call carries no context
	defer s.beside(ctx, s.staleSweep(bucket))()
	var out []string
	err := s.list(ctx, bucket, prefix, delimiter, func(page *s3.ListObjectsV2Output) {
		for _, p := range page.CommonPrefixes {
			if p := aws.ToString(p.Prefix); !isSignature(strings.TrimSuffix(p, delimiter)) {
				out = append(out, p)
			}
		}
	})
	return out, err
}

// ListObjects returns the full keys under prefix, in reverse order as
// velero-plugin-for-aws does.
func (s *Store) ListObjects(bucket, prefix string) ([]string, error) {
	var out []string
	err := s.list(context.Background(), bucket, prefix, "", func(page *s3.ListObjectsV2Output) { // Velero's call carries no context
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); !isSignature(k) {
				out = append(out, k)
			}
		}
	})
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, err
}

// list pages through ListObjectsV2; each page has its own timeout.
func (s *Store) list(ctx context.Context, bucket, prefix, delimiter string, each func(*s3.ListObjectsV2Output)) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	pages := s3.NewListObjectsV2Paginator(s.s3, in)
	for pages.HasMorePages() {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		page, err := pages.NextPage(rctx)
		cancel()
		if err != nil {
			return s.explain(ctx, translate("list", bucket, prefix, err), "s3:ListBucket", arn(bucket, ""))
		}
		each(page)
	}
	return nil
}

// DeleteObject is idempotent: deleting a key that is not there succeeds
// (a missing bucket is still an error). It names no version: on a
// versioned bucket (Object Lock ones among them) S3 adds a delete marker,
// so the key leaves listings and ObjectExists while its versions stay,
// locked ones until their retain-until date. On a BSL that signs or
// checks signatures, the object's signature (key.minisig) goes with it,
// after it, so an object is never left without the signature it had; a
// BSL without signing keys does not touch signatures (on a versioned
// bucket each delete adds a marker, even for a key that is not there).
// The first delete in a backup's folder aborts the folder's incomplete
// uploads beside it (sweep.go).
func (s *Store) DeleteObject(bucket, key string) error {
	ctx := context.Background() // Velero's call carries no context
	defer s.beside(ctx, s.backupSweep(bucket, key))()
	return s.deleteObject(ctx, bucket, key)
}

// deleteObject deletes key and its signature within ctx: Velero's
// DeleteObject, and the store's own deletes of an object it wrote and
// must take back. Those sweep nothing: the backup the object was for is
// not being deleted, and its other uploads may run beside.
func (s *Store) deleteObject(ctx context.Context, bucket, key string) error {
	if err := s.deleteOne(ctx, bucket, key); err != nil {
		return err
	}
	if isSignature(key) || !s.cfg.Checks() {
		return nil
	}
	if err := s.deleteOne(ctx, bucket, key+sigSuffix); err != nil {
		return fmt.Errorf("%w (the object itself was deleted)", err)
	}
	return nil
}

func (s *Store) deleteOne(ctx context.Context, bucket, key string) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	_, err := s.s3.DeleteObject(rctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return s.explain(ctx, translate("delete", bucket, key, err), "s3:DeleteObject", s.objectsARN(bucket))
	}
	return nil
}

// CreateSignedURL signs a GET of bucket/key valid for ttl, against
// publicUrl when it is set so that the URL works outside the cluster.
func (s *Store) CreateSignedURL(bucket, key string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > 7*24*time.Hour {
		return "", fmt.Errorf("sign %s/%s: ttl %s is outside (0, 168h]", bucket, key, ttl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout) // Velero's call carries no context
	defer cancel()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	s.sse.applyGet(in)
	req, err := s.presign.PresignGetObject(ctx, in, func(o *s3.PresignOptions) { o.Expires = ttl })
	if err != nil {
		return "", translate("sign", bucket, key, err)
	}
	return req.URL, nil
}

// sse holds the encryption headers every request of an object carries.
type sse struct {
	mode   types.ServerSideEncryption
	kmsKey string
	// SSE-C: the key and its MD5, base64 as the headers want them.
	customerKey, customerKeyMD5 string
}

func newSSE(c *config.ObjectStore) sse {
	e := sse{mode: types.ServerSideEncryption(c.ServerSideEncryption), kmsKey: c.KMSKeyID}
	if len(c.CustomerKey) > 0 {
		sum := md5.Sum(c.CustomerKey) //nolint:gosec
		e.customerKey = base64.StdEncoding.EncodeToString(c.CustomerKey)
		e.customerKeyMD5 = base64.StdEncoding.EncodeToString(sum[:])
	}
	return e
}

// customer returns the SSE-C header values, all nil without SSE-C.
func (e sse) customer() (alg, key, md5 *string) {
	if e.customerKey == "" {
		return nil, nil, nil
	}
	return aws.String("AES256"), aws.String(e.customerKey), aws.String(e.customerKeyMD5)
}

func (e sse) kms() *string {
	if e.kmsKey == "" {
		return nil
	}
	return aws.String(e.kmsKey)
}

func (e sse) applyPut(in *s3.PutObjectInput) {
	in.ServerSideEncryption, in.SSEKMSKeyId = e.mode, e.kms()
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
}

func (e sse) applyCreate(in *s3.CreateMultipartUploadInput) {
	in.ServerSideEncryption, in.SSEKMSKeyId = e.mode, e.kms()
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
}

func (e sse) applyPart(in *s3.UploadPartInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
}

func (e sse) applyComplete(in *s3.CompleteMultipartUploadInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
}

func (e sse) applyHead(in *s3.HeadObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
}

func (e sse) applyGet(in *s3.GetObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
}
