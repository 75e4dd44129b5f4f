package config

import (
	"fmt"
	"strings"
	"time"
)

// objectStoreKeys declares every key of example.io/s3compat once (keys.go
// says what uses the table). Location keys keep velero-plugin-for-aws's
// names and meanings; Velero itself adds bucket, prefix, caCert and
// credentialsFile from the BSL's spec.
var objectStoreKeys = keyTable[ObjectStore]{
	// Where the data goes.
	{Name: "bucket", Spec: "spec.objectStorage.bucket", Type: "string", Limits: "required",
		Help: "The bucket.",
		Set:  func(o *ObjectStore, v string) error { o.Bucket = v; return nil },
		Show: func(o *ObjectStore) (any, bool) { return always(o.Bucket) }},
	{Name: "prefix", Spec: "spec.objectStorage.prefix", Type: "string",
		Help: "A folder inside the bucket.",
		Set:  func(o *ObjectStore, v string) error { o.Prefix = v; return nil },
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.Prefix != "", o.Prefix) }},
	{Name: "region", Type: "string", DefaultDoc: "looked up from the bucket on AWS; " + DefaultRegion + " with s3Url",
		Help: "The bucket's region, for signing requests.",
		Set:  func(o *ObjectStore, v string) error { o.Region = strings.TrimSpace(v); return nil },
		Show: func(o *ObjectStore) (any, bool) { return always(o.Region) }},
	{Name: "s3Url", Type: "URL", DefaultDoc: "AWS", Limits: "http:// or https://, no user:password",
		Help: "Any S3-compatible endpoint; file-system backups need it set, also on AWS (see below).",
		Set:  func(o *ObjectStore, v string) error { return setURL(&o.S3URL, v) },
		Show: func(o *ObjectStore) (any, bool) { return always(orNone(o.S3URL, "AWS")) }},
	{Name: "publicUrl", Type: "URL", DefaultDoc: "s3Url", Limits: "http:// or https://, no user:password",
		Help: "The address download URLs (`velero backup logs`) are signed for.",
		Set:  func(o *ObjectStore, v string) error { return setURL(&o.PublicURL, v) },
		Show: func(o *ObjectStore) (any, bool) { return always(orNone(o.PublicURL, "none")) }},
	boolKey(Key[ObjectStore]{Name: "s3ForcePathStyle", DefaultDoc: "true with s3Url, false on AWS",
		Help: "Path-style URLs (http://host/bucket/key) instead of virtual-host style (docs/how-it-behaves.md)."},
		func(o *ObjectStore) *bool { return &o.ForcePathStyle }),
	boolKey(Key[ObjectStore]{Name: "insecureSkipTLSVerify", Default: "false",
		Help: "Do not check the server's certificate."},
		func(o *ObjectStore) *bool { return &o.InsecureSkipTLSVerify }),
	{Name: "caCert", Spec: "spec.objectStorage.caCert", Type: "PEM or base64 PEM",
		Help: "CA certificates to trust for every connection of the plugin.",
		Set:  setCACert,
		Show: func(o *ObjectStore) (any, bool) {
			return always(orNone(map[bool]string{true: "set"}[len(o.CACert) > 0], "none"))
		}},

	// With which credentials.
	{Name: "credentialsFile", Spec: "spec.credential", Type: "file", DefaultDoc: "the AWS SDK's default chain",
		Help: "The AWS shared-credentials file Velero hands over from the BSL's credential Secret.",
		Set:  func(o *ObjectStore, v string) error { return readable(&o.CredentialsFile, v) },
		Show: func(o *ObjectStore) (any, bool) { return always(orNone(o.CredentialsFile, "none: SDK default chain")) }},
	{Name: "profile", Type: "string", DefaultDoc: "default",
		Help: "The profile of the credentials file.",
		Set:  func(o *ObjectStore, v string) error { o.Profile = strings.TrimSpace(v); return nil },
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.Profile != "", o.Profile) }},
	{Name: "roleArn", Type: "IAM role ARN",
		Help: "Assume this role with STS on top of the credentials; renewed before it expires (see below).",
		Set:  setRoleARN,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.RoleARN != "", o.RoleARN) }},
	{Name: "roleSessionName", Type: "string", DefaultDoc: DefaultRoleSessionName, Limits: "2-64 of letters, digits, _+=,.@-; with roleArn",
		Help: "The STS session name; CloudTrail shows it.",
		Set:  setRoleSessionName,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.RoleARN != "", o.RoleSessionName) }},
	{Name: "externalId", Type: "string", Limits: "with roleArn",
		Help: "The sts:ExternalId the role's trust policy asks for.",
		Set:  setExternalID,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.RoleARN != "", showExternalID(o.ExternalID)) }},
	{Name: "stsUrl", Type: "URL", DefaultDoc: "s3Url unless on amazonaws.com, else AWS's regional STS", Limits: "with roleArn",
		Help: "Where the role is assumed.",
		Set:  func(o *ObjectStore, v string) error { return setURL(&o.STSURL, v) },
		Show: func(o *ObjectStore) (any, bool) {
			return shownIf(o.RoleARN != "", orNone(o.STSEndpoint(), "AWS regional STS"))
		}},
	{Name: "signatureVersion", Type: "string", Limits: "4",
		Help: "Accepted for compatibility; only 4 is supported.",
		Set: func(_ *ObjectStore, v string) error {
			if v != "4" {
				return fmt.Errorf("is not supported: only signature version 4 is")
			}
			return nil
		}},
	{Name: "enableSharedConfig", Type: "boolean",
		Help: "Accepted for compatibility; the shared config file is always read.",
		Set: func(_ *ObjectStore, v string) error {
			_, err := parseBool(v)
			return err
		}},

	// How objects are stored.
	{Name: "storageClass", Type: "S3 storage class", DefaultDoc: "the bucket's default", Limits: "not GLACIER or DEEP_ARCHIVE",
		Help: "Given to the backup tarball only; metadata and logs stay in the default class.",
		Set:  setStorageClass,
		Show: func(o *ObjectStore) (any, bool) {
			return always(orNone(o.StorageClass, "the bucket's default") + " for backup tarballs; metadata and logs: the default")
		}},
	{Name: "serverSideEncryption", Type: "string", Limits: "AES256, aws:kms, aws:kms:dsse",
		Help: "S3 server-side encryption.",
		Set:  setSSE,
		Show: func(o *ObjectStore) (any, bool) { return always(orNone(o.ServerSideEncryption, "none")) }},
	{Name: "kmsKeyId", Type: "string",
		Help: "A KMS key for server-side encryption; implies aws:kms.",
		Set:  func(o *ObjectStore, v string) error { o.KMSKeyID = strings.TrimSpace(v); return nil },
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.KMSKeyID != "", o.KMSKeyID) }},
	{Name: "customerKeyEncryptionFile", Type: "file", Limits: "exactly 32 bytes",
		Help: "SSE-C: the customer key, from a file in the pod.",
		Set:  setCustomerKey,
		Show: func(o *ObjectStore) (any, bool) {
			return shownIf(len(o.CustomerKey) > 0 && o.CustomerKeySecret.Name == "", o.CustomerKey) // prints <redacted>
		}},
	{Name: "customerKeyEncryptionSecret", Type: "secretName/key",
		Help: "SSE-C: the customer key, from a Secret in Velero's namespace (needs get on it).",
		Set:  setCustomerKeySecret,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.CustomerKeySecret.Name != "", o.CustomerKeySecret) }},
	{Name: "tagging", Type: "key=value&…", Limits: "at most 10 tags",
		Help: "Tags of every object written, in URL query form.",
		Set:  setTagging,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.Tagging != "", o.Tagging) }},
	{Name: "checksumAlgorithm", Where: InConfigMapToo, Type: "string", DefaultDoc: "none with s3Url, CRC32 on AWS",
		Limits: strings.Join(ChecksumAlgorithms[1:], ", ") + " or empty",
		Help:   "The checksum sent with every upload; MD5 is Content-MD5.",
		Set:    setChecksum,
		Show:   func(o *ObjectStore) (any, bool) { return always(orNone(o.ChecksumAlgorithm, "none")) }},
	{Name: "objectLockMode", Type: "string", Limits: strings.Join(ObjectLockModes[1:], " or ") + "; with objectLockRetention",
		Help: "Every object written is locked in this mode (docs/object-lock.md).",
		Set:  setLockMode,
		Show: func(o *ObjectStore) (any, bool) { return always(orNone(o.ObjectLockMode, "none")) }},
	{Name: "objectLockRetention", Type: "duration", Limits: "up to " + strings.TrimSuffix(MaxLockRetention.String(), "0m0s") + "; with objectLockMode",
		Help: "How long each object is locked from the start of its upload (720h: 30 days).",
		Set:  setLockRetention,
		Show: func(o *ObjectStore) (any, bool) { return always(showRetention(o.ObjectLockRetention)) }},

	// Client-side encryption (docs/encryption.md) and signatures (docs/signed-backups.md).
	{Name: "encryptionRecipients", Type: "age public keys, comma separated",
		Help: "Encrypt the backup contents to all of these age keys.",
		Set:  setRecipients,
		Show: func(o *ObjectStore) (any, bool) { return always(o.showRecipients()) }},
	{Name: "encryptionScope", Type: "string", DefaultDoc: ScopeBackupContents, Limits: ScopeBackupContents + " or " + ScopeAllGzip,
		Help: ScopeBackupContents + ": <name>.tar.gz only; " + ScopeAllGzip + ": every .gz key.",
		Set:  setEncryptionScope,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.Encrypted(), o.showScope()) }},
	{Name: "encryptionIdentitySecret", Type: "secretName/key",
		Help: "For restores: the age identity, from a Secret in Velero's namespace.",
		Set:  setIdentitySecret,
		Show: func(o *ObjectStore) (any, bool) {
			return shownIf(o.EncryptionIdentitySecret.Name != "", o.EncryptionIdentitySecret)
		}},
	{Name: "encryptionIdentityFile", Type: "absolute path",
		Help: "For restores: the age identity, from a file in the pod.",
		Set:  setIdentityFile,
		Show: func(o *ObjectStore) (any, bool) {
			return shownIf(o.EncryptionIdentityFile != "", o.EncryptionIdentityFile)
		}},
	{Name: "signingKeySecret", Type: "secretName/key",
		Help: "A minisign secret key: every object gets <key>.minisig, every read checks it.",
		Set:  setSigningKeySecret,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.SigningKeySecret.Name != "", o.SigningKeySecret) }},
	{Name: "signingKeyFile", Type: "absolute path",
		Help: "As signingKeySecret, from a file in the pod.",
		Set:  setSigningKeyFile,
		Show: func(o *ObjectStore) (any, bool) { return shownIf(o.SigningKeyFile != "", o.SigningKeyFile) }},
	{Name: "verifyPublicKeys", Type: "minisign public keys, comma separated",
		Help: "More public keys whose signatures reads accept.",
		Set:  setVerifyPublicKeys,
		Show: func(o *ObjectStore) (any, bool) {
			return shownIf(len(o.VerifyPublicKeys) > 0, "key IDs "+o.VerifyPublicKeys.String())
		}},
	func() Key[ObjectStore] {
		k := boolKey(Key[ObjectStore]{Name: "requireSignatures", Default: "false",
			Help: "An unsigned object does not read (one that fails its signature never does)."},
			func(o *ObjectStore) *bool { return &o.RequireSignatures })
		k.Show = func(o *ObjectStore) (any, bool) { return shownIf(o.Checks(), o.showRequireSignatures()) }
		return k
	}(),

	// How the plugin works: tunables, which the plugin ConfigMap may set too.
	{Name: "multipartPartSize", Where: InConfigMapToo, Type: "size", Default: "8Mi",
		Limits: ShowSize(MinPartSize) + ".." + ShowSize(MaxPartSize),
		Help:   "The size of the first parts; doubles every 800 parts so 5 TiB fits in 10,000.",
		Set: func(o *ObjectStore, v string) error {
			n, err := ParseSize(v)
			if err == nil && (n < MinPartSize || n > MaxPartSize) {
				err = fmt.Errorf("is out of range [%s, %s]", ShowSize(MinPartSize), ShowSize(MaxPartSize))
			}
			o.PartSize = n
			return err
		},
		Show: func(o *ObjectStore) (any, bool) { return always(ShowSize(o.PartSize)) }},
	intKey(Key[ObjectStore]{Name: "multipartConcurrency", Where: InConfigMapToo, Default: "4",
		Help: "Parts uploaded at once, as memoryBudget allows."}, 1, 64,
		func(o *ObjectStore) *int { return &o.Concurrency }),
	{Name: "memoryBudget", Where: InConfigMapToo, Type: "size", Default: ShowSize(DefaultMemoryBudget),
		Limits: "at least " + ShowSize(MinMemoryBudget),
		Help:   "The most bytes of transfer buffers the whole plugin process holds; the latest Init's applies (docs/configuration.md).",
		Set: func(o *ObjectStore, v string) error {
			n, err := ParseSize(v)
			if err == nil && n < MinMemoryBudget {
				err = fmt.Errorf("is below %s: the budget holds at least two parts of S3's %s minimum", ShowSize(MinMemoryBudget), ShowSize(MinPartSize))
			}
			o.MemoryBudget = n
			return err
		},
		Show: func(o *ObjectStore) (any, bool) {
			return always(ShowSize(o.MemoryBudget) + " for the whole plugin process")
		}},
	{Name: "spoolDir", Where: InConfigMapToo, Type: "absolute path", DefaultDoc: "the OS temp dir",
		Help: "Where parts memoryBudget cannot hold are spooled, unnamed; in Velero's pod use /scratch.",
		Set:  setSpoolDir,
		Show: func(o *ObjectStore) (any, bool) { return always(orNone(o.SpoolDir, o.SpoolPath()+", the OS temp dir")) }},
	durationKey(Key[ObjectStore]{Name: "requestTimeout", Where: InConfigMapToo, Default: "1m",
		Help: "Each S3 request without object data (completing an upload gets 5x), connection and TLS handshake."}, false,
		func(o *ObjectStore) *time.Duration { return &o.RequestTimeout }),
	durationKey(Key[ObjectStore]{Name: "stallTimeout", Where: InConfigMapToo, Default: "2m",
		Help: "A transfer that makes no progress this long is ended and retried on a new connection."}, false,
		func(o *ObjectStore) *time.Duration { return &o.StallTimeout }),
	intKey(Key[ObjectStore]{Name: "maxRetries", Where: InConfigMapToo, Default: "5",
		Help: "Retries of a transient failure (stall, reset, 5xx, throttling), with backoff; never of a permanent one."}, 0, 20,
		func(o *ObjectStore) *int { return &o.MaxRetries }),
	durationKey(Key[ObjectStore]{Name: "progressInterval", Where: InConfigMapToo, Default: "5s",
		Help: "A log line with bytes and MB/s this often during long transfers."}, true,
		func(o *ObjectStore) *time.Duration { return &o.ProgressInterval }),
	durationKey(Key[ObjectStore]{Name: "staleUploadAge", Where: InConfigMapToo, Default: "72h",
		Help: "Multipart uploads under the prefix older than this are aborted at a process's first list or upload."}, true,
		func(o *ObjectStore) *time.Duration { return &o.StaleUploadAge }),
	logLevelKey(func(o *ObjectStore) *string { return &o.LogLevel }),
}

// showRecipients is encryptionRecipients on the settings line.
func (o *ObjectStore) showRecipients() string {
	if !o.Encrypted() {
		return "none: objects are written as Velero sends them"
	}
	keys := make([]string, len(o.EncryptionRecipients))
	for i, r := range o.EncryptionRecipients {
		keys[i] = r.String()
	}
	return strings.Join(keys, ",")
}

// showScope is encryptionScope on the settings line.
func (o *ObjectStore) showScope() string {
	what := "backups/<name>/<name>.tar.gz, the backup contents"
	if o.EncryptionScope == ScopeAllGzip {
		what = "every .gz key"
	}
	return o.EncryptionScope + ": " + what
}

// showRequireSignatures is requireSignatures on the settings line.
func (o *ObjectStore) showRequireSignatures() string {
	if o.RequireSignatures {
		return "true: an unsigned object, or one whose signature fails, does not read"
	}
	return "false: an unsigned object reads with a warning; a bad signature fails"
}

// DefaultObjectStore holds the built-in defaults of the keys that have one.
func DefaultObjectStore() ObjectStore {
	var o ObjectStore
	objectStoreKeys.defaults(&o)
	return o
}

// ObjectStoreKeys lists every key ParseObjectStore accepts, sorted.
func ObjectStoreKeys() []string { return objectStoreKeys.names() }

// objectStoreKeyDocs are the rows of the key table of
// docs/backupstoragelocation.md.
func objectStoreKeyDocs() []keyDoc { return objectStoreKeys.docs("BSL") }

// SetKeys lists the keys that were set, sorted, each with its shown value
// (the Fields form, secrets masked) and where it came from: doctor's
// "config parses" line.
func (o *ObjectStore) SetKeys() string { return objectStoreKeys.setKeys(o.Fields(), o.Origin) }
