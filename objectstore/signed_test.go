package objectstore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ageLib "filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// Signed backups through Velero's host on MinIO: what is stored verifies
// with the minisign CLI (the ciphertext, for an encrypted tarball); a
// tarball replaced in the bucket, another backup's tarball and signature
// copied over it, a removed signature and a wrong public key are each
// caught (at the end of the read, naming the key and the signature), and
// nothing of the secret key reaches a log line.
func TestSignedBackups(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	ctx := context.Background()
	mc := srv.Client()
	key, other := testenv.NewMinisignKey(t), testenv.NewMinisignKey(t)
	age := testenv.NewAgeKey(t)
	base := func(extra ...string) map[string]string {
		return storeConfig(srv, bucket, append([]string{"prefix", "cluster-a", "multipartPartSize", "5Mi"}, extra...)...)
	}
	s, h := hostStore(t, srv, base("signingKeyFile", key.File, "requireSignatures", "true",
		"encryptionRecipients", age.Recipient, "encryptionIdentityFile", age.File))

	b1 := gzipped(t, randomBytes(t, 7<<20)) // multipart: 5 MiB parts
	b2 := gzipped(t, randomBytes(t, 200<<10))
	const k1, k2 = "cluster-a/backups/b1/b1.tar.gz", "cluster-a/backups/b2/b2.tar.gz"
	require.NoError(t, s.PutObject(bucket, k1, stream(b1)))
	require.NoError(t, s.PutObject(bucket, k2, stream(b2)))
	meta := []byte(`{"kind":"Backup"}`)
	require.NoError(t, s.PutObject(bucket, "cluster-a/backups/b1/velero-backup.json", stream(meta)))
	assert.Equal(t, digest(b1), digest(readAll(t, s, bucket, k1)))

	t.Run("the stored bytes (ciphertext) verify with the minisign CLI; the comment names the key under the prefix", func(t *testing.T) {
		stored := rawObject(t, srv, bucket, k1)
		require.True(t, bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")))
		out, err := key.Verify(t, stored, rawObject(t, srv, bucket, k1+".minisig"))
		require.NoError(t, err, out)
		assert.Contains(t, out, "Trusted comment: s3csi-v1 key=backups/b1/b1.tar.gz size=")
		out, err = other.Verify(t, stored, rawObject(t, srv, bucket, k1+".minisig"))
		assert.Error(t, err, "another public key verifies it: %s", out)
		out, err = key.Verify(t, rawObject(t, srv, bucket, "cluster-a/backups/b1/velero-backup.json"), rawObject(t, srv, bucket, "cluster-a/backups/b1/velero-backup.json.minisig"))
		require.NoError(t, err, out)
	})

	t.Run("Velero sees no signature", func(t *testing.T) {
		objs, err := s.ListObjects(bucket, "cluster-a/backups/b1/")
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{k1, "cluster-a/backups/b1/velero-backup.json"}, objs)
		p, err := s.ListCommonPrefixes(bucket, "cluster-a/backups/", "/")
		require.NoError(t, err)
		assert.Equal(t, []string{"cluster-a/backups/b1/", "cluster-a/backups/b2/"}, p)
	})

	replace := func(t *testing.T, k string, data []byte) {
		t.Helper()
		_, err := mc.PutObject(ctx, bucket, k, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	failedRead := func(t *testing.T, k string, wantErr ...string) {
		t.Helper()
		_, err := readErr(s, bucket, k)
		require.Error(t, err, "%s read without an error", k)
		for _, w := range append([]string{k, k + ".minisig"}, wantErr...) {
			assert.Contains(t, err.Error(), w)
		}
		assertLogged(t, h.Logs, "error", "get object failed", k+".minisig")
	}

	t.Run("a tarball replaced in the bucket fails at its end", func(t *testing.T) {
		forged := gzipped(t, []byte(`{"kind":"Deployment","metadata":{"name":"evil"}}`))
		replace(t, k1, forged) // plain gzip, no age: also warned as unencrypted
		failedRead(t, k1, "the data is not what key")
		assertLogged(t, h.Logs, "warning", "the object is not encrypted, though encryptionScope covers its key", "")
	})

	t.Run("a tarball forged as a valid age file to the BSL's public key fails at its end", func(t *testing.T) {
		r, err := ageLib.ParseX25519Recipient(age.Recipient)
		require.NoError(t, err)
		var sealed bytes.Buffer
		w, err := ageLib.Encrypt(&sealed, r)
		require.NoError(t, err)
		_, err = w.Write(gzipped(t, []byte(`{"kind":"Deployment","metadata":{"name":"evil"}}`)))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		replace(t, k1, sealed.Bytes()) // decrypts fine: only the signature tells
		failedRead(t, k1, "the data is not what key")
	})

	t.Run("another backup's tarball and signature copied over it fail: the comment names the other key", func(t *testing.T) {
		replace(t, k1, rawObject(t, srv, bucket, k2))
		replace(t, k1+".minisig", rawObject(t, srv, bucket, k2+".minisig"))
		failedRead(t, k1, `signs "backups/b2/b2.tar.gz"`)
	})

	t.Run("a removed signature fails under requireSignatures and warns without", func(t *testing.T) {
		require.NoError(t, mc.RemoveObject(ctx, bucket, k2+".minisig", minio.RemoveObjectOptions{}))
		failedRead(t, k2, "requireSignatures is true")
		lax, err := reinit(t, h, srv, base("signingKeyFile", key.File, "encryptionIdentityFile", age.File))
		require.NoError(t, err)
		got, err := readErr(lax, bucket, k2)
		require.NoError(t, err)
		assert.Equal(t, digest(b2), digest(got))
		warned := func(e *logrus.Entry) bool {
			return e.Level == logrus.WarnLevel && strings.HasPrefix(e.Message, "the object has no signature") && e.Data["key"] == k2
		}
		assert.Equal(t, 1, h.Logs.Count(1, warned), "one warning naming the object")
	})

	t.Run("a wrong public key fails", func(t *testing.T) {
		wrong, err := reinit(t, h, srv, base("verifyPublicKeys", other.PublicKey, "requireSignatures", "true", "encryptionIdentityFile", age.File))
		require.NoError(t, err)
		_, err = readErr(wrong, bucket, "cluster-a/backups/b1/velero-backup.json")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the signature is by an unknown key")
		right, err := reinit(t, h, srv, base("verifyPublicKeys", other.PublicKey+","+key.PublicKey, "requireSignatures", "true"))
		require.NoError(t, err)
		got, err := readErr(right, bucket, "cluster-a/backups/b1/velero-backup.json")
		require.NoError(t, err, "verifyPublicKeys alone reads what the key signed")
		assert.Equal(t, meta, got)
	})

	t.Run("delete takes the signature along", func(t *testing.T) {
		require.NoError(t, s.DeleteObject(bucket, "cluster-a/backups/b1/velero-backup.json"))
		_, err := mc.StatObject(ctx, bucket, "cluster-a/backups/b1/velero-backup.json.minisig", minio.StatObjectOptions{})
		assert.Error(t, err, "the signature is left")
	})

	t.Run("nothing of the secret key is logged", func(t *testing.T) {
		text := h.Logs.Text()
		assert.Contains(t, text, "redacted: minisign secret key", "the settings line names the key, redacted")
		line := strings.TrimSpace(strings.Split(strings.TrimSpace(string(key.SecretKey)), "\n")[1])
		for i := 0; i+24 <= len(line); i += 24 {
			assert.NotContains(t, text, line[i:i+24])
		}
	})
}

// A signing key that is encrypted, or named by a relative path, fails Init
// with the way to fix it.
func TestSigningKeyRefused(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.DebugLevel, "--log-level=debug")
	key := testenv.NewMinisignKey(t)
	enc := strings.Replace(string(key.SecretKey), "RWQAAEIy", "RWRTY0Iy", 1) // KDF scrypt: as minisign -G without -W marks it
	encFile := t.TempDir() + "/enc.key"
	require.NoError(t, osWriteFile(encFile, []byte(enc)))
	_, err := reinit(t, h, srv, storeConfig(srv, bucket, "signingKeyFile", encFile))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "minisign -G -W")
	_, err = reinit(t, h, srv, storeConfig(srv, bucket, "signingKeyFile", "minisign.key"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid value for "signingKeyFile" in BSL config: "minisign.key" is not an absolute path`)
}

func osWriteFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

// A download that breaks and resumes by range is hashed as one stream:
// the signature verifies, plain and encrypted, with requireSignatures.
func TestSignedDownloadResumes(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	key, age := testenv.NewMinisignKey(t), testenv.NewAgeKey(t)
	s, h := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL, "multipartPartSize", "5Mi", "stallTimeout", "2s", "maxRetries", "4",
		"signingKeyFile", key.File, "requireSignatures", "true", "encryptionRecipients", age.Recipient, "encryptionIdentityFile", age.File))
	objects := map[string][]byte{
		"faults/plain.tar.gz":        gzipped(t, randomBytes(t, 12<<20)),
		"backups/e/e.tar.gz":         gzipped(t, randomBytes(t, 12<<20)), // stored as an age file
		"backups/e/e-resources.json": jsonOf(t, randomBytes(t, 3<<19)),
	}
	for k, body := range objects {
		require.NoError(t, s.PutObject(bucket, k, stream(body)))
	}
	objectGet := func(r *http.Request) bool {
		return testenv.OfKind("GetObject")(r) && !strings.HasSuffix(r.URL.Path, ".minisig")
	}
	for _, f := range []testenv.Fault{
		{Kind: testenv.FaultReset, After: 1 << 20, Times: 3}, // fewer than maxRetries, should all strike one download
		{Kind: testenv.FaultStall, After: 1 << 20, Times: 3},
	} {
		f.Match = objectGet
		in := proxy.Inject(f)
		for k, body := range objects {
			assert.Equal(t, digest(body), digest(readAll(t, s, bucket, k)), "%s read whole after a resume", k)
		}
		proxy.ClearFaults()
		require.Positive(t, in.Hits())
	}
	assert.NotNil(t, h.Logs.Find(func(e *logrus.Entry) bool {
		return e.Message == "succeeded after retrying" && e.Data["unit"] == "range"
	}), "a range was resumed")
	assert.Nil(t, h.Logs.Find(func(e *logrus.Entry) bool { return e.Message == "get object failed" }), "no read failed:\n%s", h.Logs.Text())
}

// When the signature cannot be written, the object is deleted again and
// the error says so: a failed put leaves neither.
func TestSignaturePutFails(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	key := testenv.NewMinisignKey(t)
	s, _ := newStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL, "signingKeyFile", key.File))
	other := startUploads(t, srv, bucket, "backups/b1/b1.tar.gz")["backups/b1/b1.tar.gz"] // the same backup's upload, beside
	in := proxy.Inject(testenv.Fault{Kind: testenv.FaultStatus, Status: 403, Code: "AccessDenied", Match: func(r *http.Request) bool {
		return testenv.OfKind("PutObject")(r) && strings.HasSuffix(r.URL.Path, ".minisig")
	}})
	err := s.PutObject(bucket, "backups/b1/velero-backup.json", stream([]byte(`{"kind":"Backup"}`)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "put signature "+bucket+"/backups/b1/velero-backup.json.minisig")
	assert.Contains(t, err.Error(), "the object it signs was deleted again")
	require.Equal(t, 1, in.Hits())
	proxy.ClearFaults()
	for _, k := range []string{"backups/b1/velero-backup.json", "backups/b1/velero-backup.json.minisig"} {
		ok, err := s.ObjectExists(bucket, k)
		require.NoError(t, err)
		assert.False(t, ok, "%s is left", k)
	}
	assert.True(t, uploadsLeft(t, srv, bucket)[other], "taking the failed put back sweeps none of its backup's other uploads")
}

// On an Object Lock BSL the signature is kept as long as its object.
func TestSignatureLocked(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeLockedBucket(t, "", 0)
	key := testenv.NewMinisignKey(t)
	s, _ := newStore(t, srv, storeConfig(srv, bucket, "objectLockMode", "GOVERNANCE", "objectLockRetention", lockRetention.String(),
		"signingKeyFile", key.File, "requireSignatures", "true"))
	const k = "backups/b1/b1.tar.gz"
	require.NoError(t, s.PutObject(bucket, k, stream(gzipped(t, randomBytes(t, 100<<10)))))
	mode, until := retention(t, srv, bucket, k, "")
	sigMode, sigUntil := retention(t, srv, bucket, k+".minisig", "")
	assert.Equal(t, "GOVERNANCE", mode)
	assert.Equal(t, mode, sigMode)
	assert.WithinDuration(t, until, sigUntil, time.Second)
	out, err := key.Verify(t, rawObject(t, srv, bucket, k), rawObject(t, srv, bucket, k+".minisig"))
	require.NoError(t, err, out)
}

// A read beside an overwrite of its key may get the new object and the
// old signature (Velero writes velero-backup.json again when a backup
// completes): the signature is read once more and judges what was read.
// Bytes that no stored signature covers stay refused.
func TestSignatureReadBesideOverwrite(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	key := testenv.NewMinisignKey(t)
	s, logs := newStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL, "signingKeyFile", key.File, "requireSignatures", "true"))
	const k = "backups/b1/velero-backup.json"
	older, newer := []byte(`{"kind":"Backup","status":{"phase":"InProgress"}}`), []byte(`{"kind":"Backup","status":{"phase":"Completed"}}`)
	require.NoError(t, s.PutObject(bucket, k, stream(newer)))
	newerSig := rawObject(t, srv, bucket, k+".minisig")
	require.NoError(t, s.PutObject(bucket, k, stream(older)))
	put := func(key string, data []byte) {
		_, err := srv.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	sigGets := func(then func()) *testenv.Injection {
		var n atomic.Int32
		return proxy.Inject(testenv.Fault{Match: func(r *http.Request) bool {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".minisig") && n.Add(1) == 2 {
				then() // before the second read of the signature reaches S3
			}
			return false
		}})
	}

	// The window of an overwrite: the new object is stored, its
	// signature not yet; the writer's signature lands before the reader
	// asks again.
	put(k, newer)
	sigGets(func() { put(k+".minisig", newerSig) })
	assert.Equal(t, newer, readAll(t, s, bucket, k), "the new object verifies under the signature stored after it")
	assertLogged(t, logs, "info", "the signature changed while the object was read (the key was written again); the new one verifies what was read", "")
	proxy.ClearFaults()

	// Changed bytes under an unchanged signature: read again, refused again.
	put(k, []byte(`{"kind":"Backup","status":{"phase":"Forged"}}`))
	rc, err := s.GetObject(bucket, k)
	require.NoError(t, err)
	_, err = io.ReadAll(rc)
	rc.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "do not restore from it")
}
