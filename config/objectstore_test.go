package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPEM is a CERTIFICATE block that is not a certificate.
var testPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER at all")}))

// realPEM is a valid self-signed certificate.
var realPEM = func() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}()

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func bsl(kv ...string) Layer {
	m := map[string]string{"bucket": "velero"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return Layer{Name: "BSL config", Values: m}
}

func TestParseObjectStoreDefaults(t *testing.T) {
	t.Run("s3Url set: path style, default region, no checksum", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("s3Url", "http://localhost:9000/"))
		require.NoError(t, err)
		assert.Equal(t, "http://localhost:9000", c.S3URL)
		assert.True(t, c.ForcePathStyle)
		assert.Equal(t, DefaultRegion, c.Region)
		assert.False(t, c.RegionLookup)
		assert.Equal(t, "", c.ChecksumAlgorithm)
		assert.Equal(t, int64(8<<20), c.PartSize)
		assert.Equal(t, 4, c.Concurrency)
		assert.Equal(t, time.Minute, c.RequestTimeout)
		assert.Equal(t, int64(48<<20), c.MemoryBudget)
		assert.Equal(t, os.TempDir(), c.SpoolPath())
		assert.Equal(t, "BSL config", c.Origin["s3Url"])
	})
	t.Run("s3Url set, path style explicitly off", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("s3Url", "http://s3.example:9000", "s3ForcePathStyle", "false"))
		require.NoError(t, err)
		assert.False(t, c.ForcePathStyle)
	})
	t.Run("AWS: region looked up, CRC32 as velero-plugin-for-aws", func(t *testing.T) {
		c, err := ParseObjectStore(bsl())
		require.NoError(t, err)
		assert.True(t, c.RegionLookup)
		assert.False(t, c.ForcePathStyle)
		assert.Equal(t, "CRC32", c.ChecksumAlgorithm)
	})
	t.Run("AWS with region: no lookup", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("region", "eu-west-1"))
		require.NoError(t, err)
		assert.False(t, c.RegionLookup)
		assert.Equal(t, "eu-west-1", c.Region)
	})
	t.Run("empty checksumAlgorithm turns it off on AWS", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("checksumAlgorithm", ""))
		require.NoError(t, err)
		assert.Equal(t, "", c.ChecksumAlgorithm)
	})
	t.Run("kmsKeyId implies aws:kms", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("kmsKeyId", "alias/velero"))
		require.NoError(t, err)
		assert.Equal(t, "aws:kms", c.ServerSideEncryption)
	})
	t.Run("earlier layer wins, origin says which", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("multipartConcurrency", "8"),
			Layer{Name: "ConfigMap velero/s3compat", Values: map[string]string{"multipartConcurrency": "2", "maxRetries": "1"}})
		require.NoError(t, err)
		assert.Equal(t, 8, c.Concurrency)
		assert.Equal(t, 1, c.MaxRetries)
		assert.Equal(t, "BSL config", c.Origin["multipartConcurrency"])
		assert.Equal(t, "ConfigMap velero/s3compat", c.Origin["maxRetries"])
	})
}

func TestParseObjectStoreEveryKey(t *testing.T) {
	key32 := writeFile(t, "key", []byte("0123456789abcdef0123456789abcdef"))
	creds := writeFile(t, "creds", []byte("[default]\naws_access_key_id=a\naws_secret_access_key=b\n"))
	tests := []struct {
		key, value string
		check      func(t *testing.T, c *ObjectStore)
	}{
		{"prefix", "cluster-a", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "cluster-a", c.Prefix) }},
		{"region", "us-west-2", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "us-west-2", c.Region) }},
		{"s3Url", "https://minio.example:9000", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "https://minio.example:9000", c.S3URL) }},
		{"publicUrl", "https://public.example", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "https://public.example", c.PublicURL) }},
		{"s3ForcePathStyle", "true", func(t *testing.T, c *ObjectStore) { assert.True(t, c.ForcePathStyle) }},
		{"insecureSkipTLSVerify", "true", func(t *testing.T, c *ObjectStore) { assert.True(t, c.InsecureSkipTLSVerify) }},
		{"caCert", base64.StdEncoding.EncodeToString([]byte(realPEM)), func(t *testing.T, c *ObjectStore) { assert.Equal(t, realPEM, string(c.CACert)) }},
		{"caCert", realPEM, func(t *testing.T, c *ObjectStore) { assert.Equal(t, realPEM, string(c.CACert)) }},
		{"profile", "backup", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "backup", c.Profile) }},
		{"credentialsFile", creds, func(t *testing.T, c *ObjectStore) { assert.Equal(t, creds, c.CredentialsFile) }},
		{"serverSideEncryption", "AES256", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "AES256", c.ServerSideEncryption) }},
		{"kmsKeyId", "k1", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "k1", c.KMSKeyID) }},
		{"customerKeyEncryptionFile", key32, func(t *testing.T, c *ObjectStore) { assert.Len(t, c.CustomerKey, 32) }},
		{"storageClass", "standard_ia", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "STANDARD_IA", c.StorageClass) }},
		{"roleArn", "arn:aws:iam::123456789012:role/velero", func(t *testing.T, c *ObjectStore) {
			assert.Equal(t, "arn:aws:iam::123456789012:role/velero", c.RoleARN)
			assert.Equal(t, DefaultRoleSessionName, c.RoleSessionName)
		}},
		{"tagging", "team=backup", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "team=backup", c.Tagging) }},
		{"tagging", "a=1&b=2", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "a=1&b=2", c.Tagging) }},
		{"checksumAlgorithm", "md5", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "MD5", c.ChecksumAlgorithm) }},
		{"checksumAlgorithm", "CRC64NVME", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "CRC64NVME", c.ChecksumAlgorithm) }},
		{"signatureVersion", "4", func(t *testing.T, c *ObjectStore) {}},
		{"enableSharedConfig", "true", func(t *testing.T, c *ObjectStore) {}},
		{"multipartPartSize", "64Mi", func(t *testing.T, c *ObjectStore) { assert.Equal(t, int64(64<<20), c.PartSize) }},
		{"multipartPartSize", "10MB", func(t *testing.T, c *ObjectStore) { assert.Equal(t, int64(10_000_000), c.PartSize) }},
		{"multipartConcurrency", "16", func(t *testing.T, c *ObjectStore) { assert.Equal(t, 16, c.Concurrency) }},
		{"requestTimeout", "30s", func(t *testing.T, c *ObjectStore) { assert.Equal(t, 30*time.Second, c.RequestTimeout) }},
		{"stallTimeout", "10m", func(t *testing.T, c *ObjectStore) { assert.Equal(t, 10*time.Minute, c.StallTimeout) }},
		{"maxRetries", "0", func(t *testing.T, c *ObjectStore) { assert.Equal(t, 0, c.MaxRetries) }},
		{"progressInterval", "0s", func(t *testing.T, c *ObjectStore) { assert.Equal(t, time.Duration(0), c.ProgressInterval) }},
		{"staleUploadAge", "24h", func(t *testing.T, c *ObjectStore) { assert.Equal(t, 24*time.Hour, c.StaleUploadAge) }},
		{"logLevel", "Debug", func(t *testing.T, c *ObjectStore) { assert.Equal(t, "debug", c.LogLevel) }},
		{"memoryBudget", "32Mi", func(t *testing.T, c *ObjectStore) { assert.Equal(t, int64(32<<20), c.MemoryBudget) }},
		{"memoryBudget", "10Mi", func(t *testing.T, c *ObjectStore) { assert.Equal(t, int64(MinMemoryBudget), c.MemoryBudget) }},
		{"spoolDir", "/scratch/", func(t *testing.T, c *ObjectStore) {
			assert.Equal(t, "/scratch", c.SpoolDir)
			assert.Equal(t, "/scratch", c.SpoolPath())
		}},
		{"spoolDir", "", func(t *testing.T, c *ObjectStore) { assert.Equal(t, os.TempDir(), c.SpoolPath()) }},
	}
	seen := map[string]bool{"bucket": true}
	for _, tt := range tests {
		seen[tt.key] = true
		t.Run(tt.key+"="+short(tt.value), func(t *testing.T) {
			c, err := ParseObjectStore(bsl(tt.key, tt.value))
			require.NoError(t, err)
			tt.check(t, c)
			assert.Equal(t, "BSL config", c.Origin[tt.key])
		})
	}
	for _, k := range ObjectStoreKeys() {
		switch k {
		case "customerKeyEncryptionSecret": // needs an API: TestCustomerKeyFromSecret
		case "objectLockMode", "objectLockRetention": // go together: TestObjectLockSettings
		case "encryptionRecipients", "encryptionScope", "encryptionIdentitySecret", "encryptionIdentityFile": // TestEncryptionSettings
		case "roleSessionName", "externalId", "stsUrl": // need roleArn: TestRoleSettings
		case "signingKeySecret", "signingKeyFile", "verifyPublicKeys", "requireSignatures": // TestSigningSettings
		default:
			assert.True(t, seen[k], "key %s has no test", k)
		}
	}
}

func TestParseObjectStoreRejects(t *testing.T) {
	key31 := writeFile(t, "key", []byte("0123456789abcdef0123456789abcde"))
	tests := []struct {
		name   string
		layer  Layer
		errHas []string
	}{
		{"unknown key", bsl("s3URL", "http://x"), []string{`unknown key "s3URL" in BSL config`, "valid keys are"}},
		{"missing bucket", Layer{Name: "BSL config", Values: map[string]string{"region": "x"}}, []string{`missing required key "bucket"`}},
		{"bad bool", bsl("s3ForcePathStyle", "yes please"), []string{`"s3ForcePathStyle"`, `"yes please"`, "not a boolean"}},
		{"bad insecure", bsl("insecureSkipTLSVerify", "2"), []string{`"insecureSkipTLSVerify"`, `"2"`}},
		{"bad url", bsl("s3Url", "minio:9000"), []string{`"s3Url"`, `"minio:9000"`, "http://"}},
		{"bad public url", bsl("publicUrl", "ftp://x"), []string{`"publicUrl"`, `"ftp://x"`}},
		{"caCert garbage", bsl("caCert", "not a cert"), []string{`"caCert"`, "neither PEM nor base64"}},
		{"caCert PEM without cert", bsl("caCert", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"), []string{`"caCert"`, "no PEM certificate"}},
		{"caCert broken cert", bsl("caCert", testPEM), []string{`"caCert"`, "does not parse"}},
		{"missing credentials file", bsl("credentialsFile", "/nonexistent/creds"), []string{`"credentialsFile"`, `"/nonexistent/creds"`, "cannot be read"}},
		{"bad sse", bsl("serverSideEncryption", "AES128"), []string{`"serverSideEncryption"`, `"AES128"`}},
		{"short customer key", bsl("customerKeyEncryptionFile", key31), []string{`"customerKeyEncryptionFile"`, "exactly 32 bytes", "holds 31"}},
		{"missing customer key", bsl("customerKeyEncryptionFile", "/nonexistent/key"), []string{`"customerKeyEncryptionFile"`, "cannot be read"}},
		{"customer key from a device", bsl("customerKeyEncryptionFile", "/dev/zero"), []string{`"customerKeyEncryptionFile" in BSL config: "/dev/zero" is not a regular file (Dc---------)`}},
		{"long customer key", bsl("customerKeyEncryptionFile", writeFile(t, "k40", make([]byte, 40))), []string{"exactly 32 bytes", "holds more"}},
		{"credentials from a folder", bsl("credentialsFile", "/"), []string{`"credentialsFile" in BSL config: "/" is not a regular file (d---------)`}},
		{"customer key secret malformed", bsl("customerKeyEncryptionSecret", "no-slash"), []string{`"customerKeyEncryptionSecret"`, "not secretName/key"}},
		{"sse-c with kms", bsl("customerKeyEncryptionFile", writeFile(t, "k32", make([]byte, 32)), "kmsKeyId", "k"), []string{"cannot be combined"}},
		{"kms with AES256", bsl("kmsKeyId", "k", "serverSideEncryption", "AES256"), []string{"kmsKeyId needs serverSideEncryption aws:kms"}},
		{"bad tagging", bsl("tagging", "a=1;b"), []string{`"tagging"`}},
		{"empty tag key", bsl("tagging", "=v"), []string{`"tagging"`, "empty key"}},
		{"too many tags", bsl("tagging", "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1"), []string{"11 tags"}},
		{"long tag value", bsl("tagging", "a="+strings.Repeat("v", 257)), []string{"longer than 256"}},
		{"bad checksum", bsl("checksumAlgorithm", "CRC16"), []string{`"checksumAlgorithm"`, `"CRC16"`}},
		{"signature v2", bsl("signatureVersion", "1"), []string{`"signatureVersion"`, "only signature version 4"}},
		{"bad enableSharedConfig", bsl("enableSharedConfig", "maybe"), []string{`"enableSharedConfig"`, `"maybe"`, "not a boolean"}},
		{"bad size", bsl("multipartPartSize", "12XB"), []string{`invalid value for "multipartPartSize" in BSL config: "12XB" is not a size`}},
		{"part too small", bsl("multipartPartSize", "1Mi"), []string{`"multipartPartSize"`, "out of range"}},
		{"part too large", bsl("multipartPartSize", "6Gi"), []string{`"multipartPartSize"`, "out of range"}},
		{"bad concurrency", bsl("multipartConcurrency", "0"), []string{`"multipartConcurrency"`, `"0"`, "out of range"}},
		{"bad duration", bsl("requestTimeout", "soon"), []string{`"requestTimeout"`, `"soon"`, "not a duration"}},
		{"zero stall", bsl("stallTimeout", "0s"), []string{`"stallTimeout"`, "greater than zero"}},
		{"negative progress", bsl("progressInterval", "-1s"), []string{`"progressInterval"`, "negative"}},
		{"bad retries", bsl("maxRetries", "many"), []string{`"maxRetries"`, "whole number"}},
		{"bad budget", bsl("memoryBudget", "lots"), []string{`invalid value for "memoryBudget" in BSL config: "lots" is not a size`}},
		{"budget below two minimum parts", bsl("memoryBudget", "9Mi"), []string{`invalid value for "memoryBudget" in BSL config: "9Mi" is below 10MiB`}},
		{"relative spool dir", bsl("spoolDir", "scratch"), []string{`invalid value for "spoolDir" in BSL config: "scratch" is not an absolute path`}},
		{"configmap source named", Layer{Name: "ConfigMap velero/s3compat", Values: map[string]string{"bucket": "b", "maxRetries": "99"}}, []string{`in ConfigMap velero/s3compat`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseObjectStore(tt.layer)
			require.Error(t, err)
			assert.Nil(t, c)
			for _, want := range tt.errHas {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("super-secret-key-material-123456")
	c := ObjectStore{CustomerKey: s}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %x %#v", s, s, s, s, s), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		assert.NotContains(t, out, "super-secret")
		assert.Contains(t, out, "<redacted>")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"5242880": 5 << 20, "5Mi": 5 << 20, "5MiB": 5 << 20, "5M": 5e6, "1Gi": 1 << 30, " 2 GB ": 2e9, "7b": 7} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "Mi", "-1", "1.5Mi", "12XB", "99999999999999999999"} {
		_, err := ParseSize(in)
		assert.Error(t, err, in)
	}
}

func short(s string) string {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}

// A URL with user:password would reach the settings line: it is refused,
// and the error does not repeat the password.
func TestURLWithCredentialsRefused(t *testing.T) {
	for _, key := range []string{"s3Url", "publicUrl"} {
		_, err := ParseObjectStore(bsl(key, "http://AKIAEXAMPLE:sk-very-secret@minio:9000"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "`+key+`"`)
		assert.Contains(t, err.Error(), "carries credentials")
		assert.NotContains(t, err.Error(), "sk-very-secret")
	}
}

// The memory settings are run-time settings: a ConfigMap may hold them,
// and the settings line shows the budget and the spool folder in effect.
func TestMemorySettings(t *testing.T) {
	cm := Layer{Name: "ConfigMap velero/s3compat-config", TunablesOnly: true,
		Values: map[string]string{"memoryBudget": "32Mi", "spoolDir": "/scratch"}}
	c, err := ParseObjectStore(bsl(), cm)
	require.NoError(t, err)
	assert.Equal(t, int64(32<<20), c.MemoryBudget)
	f := c.Fields()
	assert.Equal(t, "32MiB for the whole plugin process (ConfigMap velero/s3compat-config)", f["memoryBudget"])
	assert.Equal(t, "/scratch (ConfigMap velero/s3compat-config)", f["spoolDir"])

	c, err = ParseObjectStore(bsl())
	require.NoError(t, err)
	f = c.Fields()
	assert.Equal(t, "48MiB for the whole plugin process (default)", f["memoryBudget"])
	assert.Equal(t, os.TempDir()+", the OS temp dir (default)", f["spoolDir"])
	assert.Equal(t, "8MiB (default)", f["multipartPartSize"])
}

func TestShowSize(t *testing.T) {
	for n, want := range map[int64]string{48 << 20: "48MiB", 5 << 30: "5GiB", 10_000_000: "10000000 bytes", 512 << 10: "512KiB", 0: "0 bytes"} {
		assert.Equal(t, want, ShowSize(n), "%d", n)
	}
}

// objectLockMode and objectLockRetention are location keys that go
// together; with them every upload needs a checksum, CRC32 by default.
func TestObjectLockSettings(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		tests := []struct {
			mode, retention string
			extra           []string
			wantMode        string
			wantRetention   time.Duration
			wantChecksum    string
			wantLine        string // Fields["checksumAlgorithm"]
		}{
			{"GOVERNANCE", "720h", nil, "GOVERNANCE", 720 * time.Hour, "CRC32", "CRC32 (default: objectLockMode needs one)"},
			{"compliance", "24h", nil, "COMPLIANCE", 24 * time.Hour, "CRC32", "CRC32 (default: objectLockMode needs one)"},
			{" Governance ", "90m", []string{"checksumAlgorithm", "md5"}, "GOVERNANCE", 90 * time.Minute, "MD5", "MD5 (BSL config)"},
			{"COMPLIANCE", "876000h", []string{"checksumAlgorithm", "SHA256"}, "COMPLIANCE", MaxLockRetention, "SHA256", "SHA256 (BSL config)"},
		}
		for _, tt := range tests {
			t.Run(tt.mode+"/"+tt.retention, func(t *testing.T) {
				c, err := ParseObjectStore(bsl(append([]string{"s3Url", "http://minio:9000", "objectLockMode", tt.mode, "objectLockRetention", tt.retention}, tt.extra...)...))
				require.NoError(t, err)
				assert.Equal(t, tt.wantMode, c.ObjectLockMode)
				assert.Equal(t, tt.wantRetention, c.ObjectLockRetention)
				assert.Equal(t, tt.wantChecksum, c.ChecksumAlgorithm)
				f := c.Fields()
				assert.Equal(t, tt.wantLine, f["checksumAlgorithm"])
				assert.Equal(t, tt.wantMode+" (BSL config)", f["objectLockMode"])
			})
		}
	})
	t.Run("settings line", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("objectLockMode", "GOVERNANCE", "objectLockRetention", "720h"))
		require.NoError(t, err)
		assert.Equal(t, "720h0m0s = 30 days (BSL config)", c.Fields()["objectLockRetention"])
		c, err = ParseObjectStore(bsl("s3Url", "http://minio:9000"))
		require.NoError(t, err)
		f := c.Fields()
		assert.Equal(t, "none (default)", f["objectLockMode"])
		assert.Equal(t, "none (default)", f["objectLockRetention"])
		assert.Equal(t, "none (default)", f["checksumAlgorithm"], "no lock: no checksum with s3Url")
		assert.Empty(t, c.ObjectLockMode)
	})
	t.Run("refused", func(t *testing.T) {
		cm := func(kv ...string) Layer {
			l := Layer{Name: "ConfigMap velero/s3compat-config", TunablesOnly: true, Values: map[string]string{}}
			for i := 0; i+1 < len(kv); i += 2 {
				l.Values[kv[i]] = kv[i+1]
			}
			return l
		}
		tests := []struct {
			name   string
			layers []Layer
			err    string
		}{
			{"bad mode", []Layer{bsl("objectLockMode", "LEGAL", "objectLockRetention", "24h")},
				`invalid value for "objectLockMode" in BSL config: "LEGAL" is not GOVERNANCE or COMPLIANCE`},
			{"days are not a Go duration", []Layer{bsl("objectLockMode", "GOVERNANCE", "objectLockRetention", "30d")},
				`invalid value for "objectLockRetention" in BSL config: "30d" is not a duration (for example 720h for 30 days)`},
			{"zero retention", []Layer{bsl("objectLockMode", "GOVERNANCE", "objectLockRetention", "0s")},
				`invalid value for "objectLockRetention" in BSL config: "0s" must be greater than zero`},
			{"negative retention", []Layer{bsl("objectLockMode", "GOVERNANCE", "objectLockRetention", "-24h")},
				`invalid value for "objectLockRetention" in BSL config: "-24h" must be greater than zero`},
			{"over 100 years", []Layer{bsl("objectLockMode", "COMPLIANCE", "objectLockRetention", "876001h")},
				`invalid value for "objectLockRetention" in BSL config: "876001h" is over 100 years (876000h), the longest retention S3 takes`},
			{"mode alone", []Layer{bsl("objectLockMode", "compliance")},
				`objectLockMode COMPLIANCE needs objectLockRetention (for example 720h): set both or neither`},
			{"retention alone", []Layer{bsl("objectLockRetention", "24h")},
				`objectLockRetention needs objectLockMode (GOVERNANCE or COMPLIANCE): set both or neither`},
			{"empty mode with retention", []Layer{bsl("objectLockMode", "", "objectLockRetention", "24h")},
				`objectLockRetention needs objectLockMode (GOVERNANCE or COMPLIANCE): set both or neither`},
			{"checksum turned off in the BSL", []Layer{bsl("objectLockMode", "GOVERNANCE", "objectLockRetention", "24h", "checksumAlgorithm", "")},
				`objectLockMode needs a checksum on every upload (S3 refuses Object Lock writes without Content-MD5 or x-amz-checksum-*), but checksumAlgorithm is "" in BSL config: remove it or choose one of MD5`},
			{"checksum turned off in the ConfigMap", []Layer{bsl("objectLockMode", "GOVERNANCE", "objectLockRetention", "24h"), cm("checksumAlgorithm", "")},
				`but checksumAlgorithm is "" in ConfigMap velero/s3compat-config: remove it`},
			{"mode in the ConfigMap", []Layer{bsl(), cm("objectLockMode", "GOVERNANCE")},
				`key "objectLockMode" is not allowed in ConfigMap velero/s3compat-config: it belongs in the location's config`},
			{"retention in the ConfigMap", []Layer{bsl("objectLockMode", "GOVERNANCE"), cm("objectLockRetention", "24h")},
				`key "objectLockRetention" is not allowed in ConfigMap velero/s3compat-config: it belongs in the location's config`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := ParseObjectStore(tt.layers...)
				require.Error(t, err)
				assert.Nil(t, c)
				assert.Contains(t, err.Error(), tt.err)
			})
		}
	})
}

// An unreadable file's error shows the path once, as the value (with a
// URL's password redacted), never again inside the OS error.
func TestFileErrorsShowThePathOnce(t *testing.T) {
	for _, key := range []string{"credentialsFile", "customerKeyEncryptionFile"} {
		_, err := ParseObjectStore(bsl(key, "https://admin:hunter2secret@minio/"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot be read: no such file or directory")
		assert.NotContains(t, err.Error(), "hunter2secret")
		assert.Equal(t, 1, strings.Count(err.Error(), "minio/"), err.Error())
	}
}

// A tagging value with several bad tags names the same one every time.
func TestTaggingErrorIsStable(t *testing.T) {
	_, first := ParseObjectStore(bsl("tagging", "z=1&z=2&b=1&b=2&m=1&m=2"))
	require.Error(t, first)
	assert.Contains(t, first.Error(), `repeats tag "b"`)
	for range 20 {
		_, err := ParseObjectStore(bsl("tagging", "z=1&z=2&b=1&b=2&m=1&m=2"))
		require.EqualError(t, err, first.Error())
	}
}
