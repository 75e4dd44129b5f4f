package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The setters of the object store's keys that need more than a parse.

func setURL(dst *string, v string) error {
	if _, err := parseHTTPURL(v); err != nil {
		return err
	}
	*dst = strings.TrimRight(strings.TrimSpace(v), "/")
	return nil
}

func positiveDuration(dst *time.Duration, v string) error {
	d, err := parseDuration(v)
	if err == nil && d == 0 {
		err = fmt.Errorf("must be greater than zero")
	}
	*dst = d
	return err
}

// setSpoolDir takes an absolute folder ("" for the OS temp dir). Whether
// it exists and can be written is checked at Init, where I/O belongs.
func setSpoolDir(o *ObjectStore, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && !filepath.IsAbs(v) {
		return fmt.Errorf("is not an absolute path")
	}
	o.SpoolDir = ""
	if v != "" {
		o.SpoolDir = filepath.Clean(v)
	}
	return nil
}

// SpoolPath is the folder spooled parts go to: SpoolDir, else the OS
// temp dir ($TMPDIR, else /tmp).
func (o *ObjectStore) SpoolPath() string {
	if o.SpoolDir == "" {
		return os.TempDir()
	}
	return o.SpoolDir
}

func readable(dst *string, v string) error {
	f, err := openRegular(v)
	if err != nil {
		return err
	}
	f.Close()
	*dst = v
	return nil
}

// openRegular opens a regular file (through symlinks, as Kubernetes
// mounts Secrets). Anything else is refused before it is opened: a FIFO
// would block the open and a device like /dev/zero never ends. The error
// gives the reason without the path, which the caller shows as the value
// (with a URL's password redacted).
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", bareOSError(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file (%s)", st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", bareOSError(err))
	}
	return f, nil
}

// bareOSError is an os error without the path it repeats.
func bareOSError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// setCACert takes the PEM that Velero passes (the BSL's caCert field,
// base64 in YAML, decoded by Kubernetes) and also base64-encoded PEM.
func setCACert(o *ObjectStore, v string) error {
	trimmed := strings.TrimSpace(v)
	if trimmed == "" {
		return nil
	}
	data := []byte(v)
	if !strings.HasPrefix(trimmed, "-----BEGIN") {
		dec, err := base64.StdEncoding.DecodeString(trimmed)
		if err != nil {
			return fmt.Errorf("is neither PEM nor base64-encoded PEM")
		}
		data = dec
	}
	found := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("holds a certificate that does not parse: %v", err)
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("holds no PEM certificate")
	}
	o.CACert = data
	return nil
}

func setSSE(o *ObjectStore, v string) error {
	switch v {
	case "", "AES256", "aws:kms", "aws:kms:dsse":
		o.ServerSideEncryption = v
		return nil
	}
	return fmt.Errorf("is not one of AES256, aws:kms, aws:kms:dsse")
}

func setCustomerKey(o *ObjectStore, path string) error {
	if path == "" {
		return nil
	}
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	key, err := io.ReadAll(io.LimitReader(f, 33)) // one byte more than a key tells a longer file
	if err != nil {
		return fmt.Errorf("cannot be read: %v", bareOSError(err))
	}
	if len(key) > 32 {
		return fmt.Errorf("must hold exactly 32 bytes (an AES-256 key), holds more")
	}
	return setAESKey(o, key)
}

// setAESKey takes an SSE-C key, which is exactly 32 bytes.
func setAESKey(o *ObjectStore, key []byte) error {
	if len(key) != 32 {
		return fmt.Errorf("must hold exactly 32 bytes (an AES-256 key), holds %d", len(key))
	}
	o.CustomerKey = Secret(key)
	return nil
}

// setTagging checks the URL-query form S3 takes in x-amz-tagging.
func setTagging(o *ObjectStore, v string) error {
	if v == "" {
		return nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return fmt.Errorf("is not key=value pairs joined by &")
	}
	if len(q) > 10 {
		return fmt.Errorf("has %d tags; S3 allows 10 per object", len(q))
	}
	for _, k := range slices.Sorted(maps.Keys(q)) { // the same input names the same tag
		vals := q[k]
		switch {
		case k == "":
			return fmt.Errorf("has a tag with an empty key")
		case len(vals) != 1:
			return fmt.Errorf("repeats tag %q", k)
		case len([]rune(k)) > 128:
			return fmt.Errorf("has a tag key longer than 128 characters")
		case len([]rune(vals[0])) > 256:
			return fmt.Errorf("has a tag value longer than 256 characters")
		}
	}
	o.Tagging = v
	return nil
}

// ChecksumAlgorithms are the values checksumAlgorithm takes ("" is none).
var ChecksumAlgorithms = []string{"", "MD5", "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// checksumChoices lists the checksums an error offers: MD5, CRC32, ...
var checksumChoices = strings.Join(ChecksumAlgorithms[1:], ", ")

func setChecksum(o *ObjectStore, v string) error {
	for _, a := range ChecksumAlgorithms {
		if strings.EqualFold(v, a) {
			o.ChecksumAlgorithm = a
			return nil
		}
	}
	return fmt.Errorf("is not one of %s or empty", checksumChoices)
}

// ObjectLockModes are the values objectLockMode takes ("" is none).
var ObjectLockModes = []string{"", "GOVERNANCE", "COMPLIANCE"}

// MaxLockRetention is the longest retention S3 takes: 100 years of days.
const MaxLockRetention = 100 * 365 * 24 * time.Hour

func setLockMode(o *ObjectStore, v string) error {
	for _, m := range ObjectLockModes {
		if strings.EqualFold(strings.TrimSpace(v), m) {
			o.ObjectLockMode = m
			return nil
		}
	}
	return fmt.Errorf("is not GOVERNANCE or COMPLIANCE")
}

// setLockRetention takes a Go duration (720h for 30 days): how long each
// object is kept from the start of its upload.
func setLockRetention(o *ObjectStore, v string) error {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		return fmt.Errorf("is not a duration (for example 720h for 30 days)")
	case d <= 0:
		return fmt.Errorf("must be greater than zero")
	case d > MaxLockRetention:
		return fmt.Errorf("is over 100 years (876000h), the longest retention S3 takes")
	}
	o.ObjectLockRetention = d
	return nil
}

// SecretKeyRef names one key of a Secret in Velero's namespace.
type SecretKeyRef struct {
	Name string // the Secret
	Key  string // the key in its data
}

// String is the secretName/key form the reference is written in.
func (r SecretKeyRef) String() string { return r.Name + "/" + r.Key }

// setCustomerKeySecret takes "secretName/key" as velero-plugin-for-aws
// does. The Secret is read at Init, not here: SetCustomerKeyFromSecret.
func setCustomerKeySecret(o *ObjectStore, ref string) error {
	return setSecretRef(&o.CustomerKeySecret, ref)
}

// setSecretRef parses "secretName/key" ("" names none).
func setSecretRef(dst *SecretKeyRef, ref string) error {
	if ref == "" {
		return nil
	}
	name, key, ok := strings.Cut(ref, "/")
	if !ok || name == "" || key == "" || strings.Contains(key, "/") {
		return fmt.Errorf("is not secretName/key")
	}
	*dst = SecretKeyRef{Name: name, Key: key}
	return nil
}

// SetCustomerKeyFromSecret sets CustomerKey from the Secret that
// CustomerKeySecret names: data is what reading it from namespace
// returned, readErr why that failed. Every error names the setting, the
// Secret, its namespace and the key, and never holds the key's value.
func (o *ObjectStore) SetCustomerKeyFromSecret(namespace string, data map[string][]byte, readErr error) error {
	return o.fromSecret("customerKeyEncryptionSecret", o.CustomerKeySecret, namespace, data, readErr, func(key []byte) error {
		return setAESKey(o, key)
	})
}

// fromSecret hands set the value of key ref.Key of the Secret ref names,
// as read from namespace (data, or readErr), and names setting, the Secret
// and the key in every error, never the value.
func (o *ObjectStore) fromSecret(setting string, ref SecretKeyRef, namespace string, data map[string][]byte, readErr error, set func([]byte) error) error {
	source := o.Origin[setting]
	if readErr != nil {
		return fmt.Errorf("invalid value for %q in %s: %q names Secret %s/%s, which cannot be read: %w", setting, source, ref, namespace, ref.Name, readErr)
	}
	value, ok := data[ref.Key]
	if !ok {
		return valueError(source, setting, ref.String(), fmt.Sprintf("names key %q that Secret %s/%s does not have", ref.Key, namespace, ref.Name))
	}
	if err := set(value); err != nil {
		return valueError(source, setting, ref.String(), fmt.Sprintf("names key %q of Secret %s/%s, which %v", ref.Key, namespace, ref.Name, err))
	}
	return nil
}
