package config

import (
	"fmt"
	"strings"
	"time"

	"filippo.io/age"
)

// S3 limits that bound the multipart settings.
const (
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	MaxParts    = 10000
	// MinMemoryBudget holds two parts of the minimum size: one being sent
	// while the next is read.
	MinMemoryBudget     = 2 * MinPartSize
	DefaultMemoryBudget = 48 << 20
	// DefaultRegion is used when s3Url names a non-AWS server and no
	// region is given: S3-compatible servers accept it, and SigV4 needs one.
	DefaultRegion = "us-east-1"
)

// ObjectStore is every setting of the example.io/s3compat object store,
// typed and validated. Location keys are those of velero-plugin-for-aws.
type ObjectStore struct {
	Bucket string
	Prefix string

	Region string
	// RegionLookup is true when neither region nor s3Url is set: the
	// bucket's region is asked of AWS at Init.
	RegionLookup          bool
	S3URL                 string
	PublicURL             string
	ForcePathStyle        bool
	InsecureSkipTLSVerify bool
	CACert                []byte // PEM, already checked to hold a certificate
	Profile               string
	CredentialsFile       string
	// RoleARN, when set, is the IAM role the plugin assumes with STS on
	// top of the credentials above, refreshed before they expire; the
	// session is RoleSessionName, ExternalID the trust policy's
	// sts:ExternalId condition, STSURL the STS endpoint (STSEndpoint).
	RoleARN         string
	RoleSessionName string
	ExternalID      string
	STSURL          string
	// StorageClass ("": the bucket's default) is given to the backup
	// tarball only; metadata and logs stay in the default class.
	StorageClass string

	ServerSideEncryption string // "", AES256, aws:kms, aws:kms:dsse
	KMSKeyID             string
	CustomerKey          Secret       // SSE-C key, exactly 32 bytes
	CustomerKeySecret    SecretKeyRef // where the SSE-C key is; read into CustomerKey at Init
	Tagging              string       // URL query form, validated
	// ChecksumAlgorithm is "" (none unless the server requires one), MD5
	// (Content-MD5), or an S3 flexible checksum: CRC32, CRC32C, CRC64NVME,
	// SHA1, SHA256. The plugin computes it and sends it as a header.
	ChecksumAlgorithm string
	// ObjectLockMode is "" (no Object Lock asked for), GOVERNANCE or
	// COMPLIANCE: every object written carries this mode and a retain-until
	// date ObjectLockRetention after its upload started. Location only.
	ObjectLockMode      string
	ObjectLockRetention time.Duration

	// EncryptionRecipients are the age X25519 public keys the objects of
	// EncryptionScope are encrypted to as they stream; none: no encryption.
	EncryptionRecipients []*age.X25519Recipient
	EncryptionScope      string // ScopeBackupContents (default) or ScopeAllGzip
	// EncryptionIdentities read encrypted objects; Init reads them from
	// EncryptionIdentitySecret or EncryptionIdentityFile.
	EncryptionIdentities     Identities
	EncryptionIdentitySecret SecretKeyRef
	EncryptionIdentityFile   string

	// SigningFields: minisign signatures of every object (signing.go).
	SigningFields

	PartSize         int64         // first multipart part size; grows after
	Concurrency      int           // parts uploaded at once
	RequestTimeout   time.Duration // each S3 request that carries no object data
	StallTimeout     time.Duration // an S3 request (retried) or Velero's stream (fatal) with no progress this long is given up
	MaxRetries       int           // retries of a transient failure: per S3 request, per part, per download's resumes
	ProgressInterval time.Duration // 0: no progress lines
	StaleUploadAge   time.Duration // abort multipart uploads under the prefix older than this; 0: never
	LogLevel         string        // "": Velero's --log-level; else the plugin logs at least this much
	// MemoryBudget is the most bytes of transfer buffers (upload parts,
	// download read-ahead) the whole plugin process holds at once; the
	// latest Init sets it for every transfer.
	MemoryBudget int64
	SpoolDir     string // where parts that MemoryBudget cannot hold are spooled; "": the OS temp dir

	// Origin names where each key that was set came from.
	Origin map[string]string
}

// Layer is one source of settings; earlier layers win.
type Layer struct {
	Name   string // e.g. `BSL config`, `ConfigMap velero/s3compat-config`
	Values map[string]string
	// TunablesOnly marks the plugin ConfigMap: it says how the plugin
	// works, never where the data goes or with which credentials.
	TunablesOnly bool
}

// ParseObjectStore reads the layers (earlier ones win) onto the defaults,
// rejects unknown keys and bad values by name, and checks the whole.
func ParseObjectStore(layers ...Layer) (*ObjectStore, error) {
	o := DefaultObjectStore()
	o.Origin = map[string]string{}
	if err := objectStoreKeys.parse(&o, layers, o.Origin); err != nil {
		return nil, err
	}
	if err := o.finish(); err != nil {
		return nil, err
	}
	return &o, nil
}

// finish applies the defaults that depend on other keys and checks the
// combinations no single key can.
func (o *ObjectStore) finish() error {
	present := func(key string) bool { _, ok := o.Origin[key]; return ok }
	if strings.TrimSpace(o.Bucket) == "" {
		return fmt.Errorf("missing required key %q", "bucket")
	}
	if o.S3URL != "" {
		if !present("s3ForcePathStyle") {
			// S3-compatible servers serve path-style URLs; virtual-host
			// style needs wildcard DNS that http://localhost:9000 lacks.
			o.ForcePathStyle = true
		}
		if o.Region == "" {
			o.Region = DefaultRegion
		}
		if !present("checksumAlgorithm") {
			o.ChecksumAlgorithm = ""
		}
	} else {
		o.RegionLookup = o.Region == ""
		if !present("checksumAlgorithm") {
			o.ChecksumAlgorithm = "CRC32" // what velero-plugin-for-aws sends to AWS
		}
	}
	if err := o.finishRole(); err != nil {
		return err
	}
	if err := o.finishLock(present); err != nil {
		return err
	}
	if err := o.finishEncryption(present); err != nil {
		return err
	}
	if err := o.finishSigning(); err != nil {
		return err
	}
	if o.KMSKeyID != "" {
		switch o.ServerSideEncryption {
		case "":
			o.ServerSideEncryption = "aws:kms"
		case "aws:kms", "aws:kms:dsse":
		default:
			return fmt.Errorf("kmsKeyId needs serverSideEncryption aws:kms, not %q", o.ServerSideEncryption)
		}
	}
	if present("customerKeyEncryptionFile") && present("customerKeyEncryptionSecret") {
		return fmt.Errorf("customerKeyEncryptionFile and customerKeyEncryptionSecret both name an SSE-C key: set one")
	}
	if (len(o.CustomerKey) > 0 || o.CustomerKeySecret.Name != "") && (o.KMSKeyID != "" || o.ServerSideEncryption != "") {
		return fmt.Errorf("an SSE-C key (customerKeyEncryptionFile or customerKeyEncryptionSecret) cannot be combined with kmsKeyId or serverSideEncryption")
	}
	return nil
}

// finishLock checks that objectLockMode and objectLockRetention come
// together, and gives Object Lock the checksum S3 demands of every write
// that carries it (Content-MD5 or an x-amz-checksum-* header): CRC32 when
// checksumAlgorithm is not set, an error when it is set to none.
func (o *ObjectStore) finishLock(present func(string) bool) error {
	switch {
	case o.ObjectLockMode != "" && o.ObjectLockRetention == 0:
		return fmt.Errorf("objectLockMode %s needs objectLockRetention (for example 720h): set both or neither", o.ObjectLockMode)
	case o.ObjectLockMode == "" && o.ObjectLockRetention != 0:
		return fmt.Errorf("objectLockRetention needs objectLockMode (GOVERNANCE or COMPLIANCE): set both or neither")
	case o.ObjectLockMode == "" || o.ChecksumAlgorithm != "":
		return nil
	case present("checksumAlgorithm"):
		return fmt.Errorf("objectLockMode needs a checksum on every upload (S3 refuses Object Lock writes without Content-MD5 or x-amz-checksum-*), "+
			"but checksumAlgorithm is \"\" in %s: remove it or choose one of %s", o.Origin["checksumAlgorithm"], checksumChoices)
	}
	o.ChecksumAlgorithm = "CRC32"
	return nil
}
