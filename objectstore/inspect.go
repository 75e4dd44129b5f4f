package objectstore

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
)

// Read-only views of a location for `verify`, beside Velero's calls: the
// settings Init parsed, an object's HEAD with its Object Lock state, and
// an object's stored bytes (the ciphertext of an encrypted one), through
// the same clients, retries, CA certificates, roles and SSE-C keys. None
// of them writes.

// Settings is the BSL config Init parsed and checked, with the keys it
// read (a copy: changing it changes nothing of the store).
func (s *Store) Settings() config.ObjectStore { return *s.cfg }

// ObjectInfo is what a HEAD of an object's current version says.
type ObjectInfo struct {
	Size        int64
	VersionID   string    // "" on an unversioned bucket
	LockMode    string    // GOVERNANCE, COMPLIANCE, or "" when it has no retention
	RetainUntil time.Time // zero when it has no retention
	LegalHold   bool
}

// Stat HEADs bucket/key: its size and, on an Object Lock bucket, its
// retention. A key that is not there is ErrNotFound (errors.Is).
func (s *Store) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	s.sse.applyHead(in)
	h, err := s.s3.HeadObject(rctx, in)
	if err != nil {
		return ObjectInfo{}, s.explain(ctx, translate("head", bucket, key, err), "s3:GetObject", s.objectsARN(bucket))
	}
	info := ObjectInfo{Size: aws.ToInt64(h.ContentLength), VersionID: aws.ToString(h.VersionId), LockMode: string(h.ObjectLockMode),
		LegalHold: h.ObjectLockLegalHoldStatus == "ON"}
	if h.ObjectLockRetainUntilDate != nil {
		info.RetainUntil = h.ObjectLockRetainUntilDate.UTC()
	}
	return info, nil
}

// GetStored opens bucket/key as S3 stores it, age header and all, with
// GetObject's read-ahead, retries and resume: nothing is decrypted, so a
// signature over the stored bytes can be checked without an identity.
// Open turns what it reads into what GetObject would give. The download
// ends with ctx, or when it is closed.
func (s *Store) GetStored(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	log := s.log.WithFields(logrus.Fields{"bucket": bucket, "key": key})
	d, err := s.startDownload(ctx, log, bucket, key, nil)
	if err != nil {
		return nil, err
	}
	return &opened{Reader: &counted{r: d, count: d.tr.add}, download: d}, nil
}

// Open reads stored bytes as GetObject hands them to Velero: an age file
// is decrypted with the BSL's identities (sealed is true), anything else
// is passed on. A truncated or altered age file ends in ErrDecrypt; one
// the identities cannot open, or any age file without an identity, fails
// here with ErrEncrypted.
func (s *Store) Open(stored io.Reader) (plain io.Reader, sealed bool, err error) {
	return openBody(stored, s.cfg.EncryptionIdentities.List(), s.cfg.IdentitySource(), func(int) {})
}
