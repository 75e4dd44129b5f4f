package config

import (
	"fmt"
	"maps"
	"slices"
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

// tunables are the keys a plugin ConfigMap may set.
var tunables = map[string]bool{
	"multipartPartSize": true, "multipartConcurrency": true, "requestTimeout": true, "stallTimeout": true,
	"maxRetries": true, "progressInterval": true, "checksumAlgorithm": true, "logLevel": true, "staleUploadAge": true,
	"memoryBudget": true, "spoolDir": true,
	"operationTimeout": true, "dialTimeout": true, "snapshotReadyTimeout": true, "pollInterval": true,
	"topologyMap": true, // where restores go is the restoring cluster's choice, not the location's
}

// checkLayerKey refuses a location key in a tunables-only layer.
func checkLayerKey(l Layer, key string) error {
	if l.TunablesOnly && !tunables[key] {
		return fmt.Errorf("key %q is not allowed in %s: it belongs in the location's config; the ConfigMap takes only run-time settings", key, l.Name)
	}
	return nil
}

// objectStoreKeys sets each key's value onto an ObjectStore. Velero itself
// adds bucket, prefix, caCert and credentialsFile to a BSL's config.
var objectStoreKeys = map[string]func(o *ObjectStore, v string) error{
	"bucket":    func(o *ObjectStore, v string) error { o.Bucket = v; return nil },
	"prefix":    func(o *ObjectStore, v string) error { o.Prefix = v; return nil },
	"region":    func(o *ObjectStore, v string) error { o.Region = strings.TrimSpace(v); return nil },
	"s3Url":     func(o *ObjectStore, v string) error { return setURL(&o.S3URL, v) },
	"publicUrl": func(o *ObjectStore, v string) error { return setURL(&o.PublicURL, v) },
	"s3ForcePathStyle": func(o *ObjectStore, v string) (err error) {
		o.ForcePathStyle, err = parseBool(v)
		return err
	},
	"insecureSkipTLSVerify": func(o *ObjectStore, v string) (err error) {
		o.InsecureSkipTLSVerify, err = parseBool(v)
		return err
	},
	"caCert":                      setCACert,
	"profile":                     func(o *ObjectStore, v string) error { o.Profile = strings.TrimSpace(v); return nil },
	"credentialsFile":             func(o *ObjectStore, v string) error { return readable(&o.CredentialsFile, v) },
	"serverSideEncryption":        setSSE,
	"kmsKeyId":                    func(o *ObjectStore, v string) error { o.KMSKeyID = strings.TrimSpace(v); return nil },
	"customerKeyEncryptionFile":   setCustomerKey,
	"customerKeyEncryptionSecret": setCustomerKeySecret,
	"tagging":                     setTagging,
	"storageClass":                setStorageClass,
	"roleArn":                     setRoleARN,
	"roleSessionName":             setRoleSessionName,
	"externalId":                  setExternalID,
	"stsUrl":                      func(o *ObjectStore, v string) error { return setURL(&o.STSURL, v) },
	"checksumAlgorithm":           setChecksum,
	"objectLockMode":              setLockMode,
	"objectLockRetention":         setLockRetention,
	"encryptionRecipients":        setRecipients,
	"encryptionScope":             setEncryptionScope,
	"encryptionIdentitySecret":    setIdentitySecret,
	"encryptionIdentityFile":      setIdentityFile,
	"signingKeySecret":            setSigningKeySecret,
	"signingKeyFile":              setSigningKeyFile,
	"verifyPublicKeys":            setVerifyPublicKeys,
	"requireSignatures":           setRequireSignatures,
	"signatureVersion": func(_ *ObjectStore, v string) error {
		if v != "4" {
			return fmt.Errorf("is not supported: only signature version 4 is")
		}
		return nil
	},
	"enableSharedConfig": func(_ *ObjectStore, v string) error {
		_, err := parseBool(v) // the shared config file is always read
		return err
	},
	"multipartPartSize": func(o *ObjectStore, v string) error {
		n, err := ParseSize(v)
		if err == nil && (n < MinPartSize || n > MaxPartSize) {
			err = fmt.Errorf("is out of range [5MiB, 5GiB]")
		}
		o.PartSize = n
		return err
	},
	"multipartConcurrency": func(o *ObjectStore, v string) (err error) {
		o.Concurrency, err = parseInt(v, 1, 64)
		return err
	},
	"requestTimeout": func(o *ObjectStore, v string) error { return positiveDuration(&o.RequestTimeout, v) },
	"stallTimeout":   func(o *ObjectStore, v string) error { return positiveDuration(&o.StallTimeout, v) },
	"maxRetries": func(o *ObjectStore, v string) (err error) {
		o.MaxRetries, err = parseInt(v, 0, 20)
		return err
	},
	"progressInterval": func(o *ObjectStore, v string) (err error) {
		o.ProgressInterval, err = parseDuration(v)
		return err
	},
	"logLevel": func(o *ObjectStore, v string) (err error) {
		o.LogLevel, err = parseLogLevel(v)
		return err
	},
	"staleUploadAge": func(o *ObjectStore, v string) (err error) {
		o.StaleUploadAge, err = parseDuration(v)
		return err
	},
	"memoryBudget": func(o *ObjectStore, v string) error {
		n, err := ParseSize(v)
		if err == nil && n < MinMemoryBudget {
			err = fmt.Errorf("is below %s: the budget holds at least two parts of S3's %s minimum", ShowSize(MinMemoryBudget), ShowSize(MinPartSize))
		}
		o.MemoryBudget = n
		return err
	},
	"spoolDir": setSpoolDir,
}

// DefaultObjectStore holds the built-in defaults of the tunable settings.
func DefaultObjectStore() ObjectStore {
	return ObjectStore{
		PartSize:         8 << 20,
		Concurrency:      4,
		RequestTimeout:   time.Minute,
		StallTimeout:     2 * time.Minute,
		MaxRetries:       5,
		ProgressInterval: 5 * time.Second,
		StaleUploadAge:   72 * time.Hour,
		MemoryBudget:     DefaultMemoryBudget,
	}
}

// ObjectStoreKeys lists every key ParseObjectStore accepts, sorted.
func ObjectStoreKeys() []string {
	return slices.Sorted(maps.Keys(objectStoreKeys))
}

// eachKey sets every key of the layers through lookup, the last layer
// first so that earlier layers overwrite, keys in order. It refuses
// unknown keys and location keys in a tunables-only layer, names the
// source, key and value of a bad value, and records each key's origin.
func eachKey(layers []Layer, origin map[string]string, valid []string, lookup func(key string) (set func(value string) error, ok bool)) error {
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		for _, k := range slices.Sorted(maps.Keys(l.Values)) {
			set, ok := lookup(k)
			if !ok {
				return fmt.Errorf("unknown key %q in %s; valid keys are %s", k, l.Name, strings.Join(valid, ", "))
			}
			if err := checkLayerKey(l, k); err != nil {
				return err
			}
			if err := set(l.Values[k]); err != nil {
				return valueError(l.Name, k, shown(k, l.Values[k]), err.Error())
			}
			origin[k] = l.Name
		}
	}
	return nil
}

// ParseObjectStore reads the layers (earlier ones win) onto the defaults,
// rejects unknown keys and bad values by name, and checks the whole.
func ParseObjectStore(layers ...Layer) (*ObjectStore, error) {
	o := DefaultObjectStore()
	o.Origin = map[string]string{}
	err := eachKey(layers, o.Origin, ObjectStoreKeys(), func(k string) (func(string) error, bool) {
		set, ok := objectStoreKeys[k]
		return func(v string) error { return set(&o, v) }, ok
	})
	if err != nil {
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
