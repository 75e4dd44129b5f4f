package objectstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// ageDecrypt runs the standard age CLI (Debian's), no code of ours.
func ageDecrypt(t *testing.T, ageBin string, identityFile string, sealed []byte) ([]byte, error) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.age")
	require.NoError(t, os.WriteFile(in, sealed, 0o600))
	var out, stderr bytes.Buffer
	cmd := exec.Command(ageBin, "-d", "-i", identityFile, in)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out.Bytes(), nil
}

// readErr is the error of reading key whole through the store: at
// GetObject or at a read (through the host, with the first message).
func readErr(s velero.ObjectStore, bucket, key string) ([]byte, error) {
	rc, err := s.GetObject(bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// reinit is another store of the same plugin process with cfg, as Velero
// inits each store it gets once.
func reinit(t *testing.T, h *testenv.Host, srv *testenv.S3Server, cfg map[string]string) (velero.ObjectStore, error) {
	t.Helper()
	s, err := h.Manager.GetObjectStore("example.io/s3compat")
	require.NoError(t, err)
	cfg["credentialsFile"] = srv.CredentialsFile(t)
	return s, s.Init(cfg)
}

// Encrypted backups through Velero's host on MinIO: the backup contents
// are stored as age files that the standard age CLI opens with either
// identity, read back through the host, and every other key stays as
// Velero sent it; older plain backups still read; a missing or wrong
// identity, a flipped byte and a cut object are errors, never success.
func TestEncryptedBackups(t *testing.T) {
	ageBin := testenv.Tool(t, "age")
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	ctx := context.Background()
	k1, k2, other := testenv.NewAgeKey(t), testenv.NewAgeKey(t), testenv.NewAgeKey(t)
	base := func(extra ...string) map[string]string {
		return storeConfig(srv, bucket, append([]string{"prefix", "cluster-a", "multipartPartSize", "5Mi"}, extra...)...)
	}
	s, h := hostStore(t, srv, base())

	// Before encryption is turned on: a backup written plain.
	old := gzipped(t, randomBytes(t, 300<<10))
	require.NoError(t, s.PutObject(bucket, "cluster-a/backups/old/old.tar.gz", stream(old)))

	sealedCfg := base("encryptionRecipients", k1.Recipient+", "+k2.Recipient, "encryptionIdentityFile", k1.File)
	s, err := reinit(t, h, srv, sealedCfg)
	require.NoError(t, err)
	tarball := gzipped(t, append(bytes.Repeat([]byte(`{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}`), 100000), randomBytes(t, 8<<20)...))
	small := gzipped(t, []byte(`{"kind":"Secret"}`))
	logs := gzipped(t, []byte("level=info msg=backup done\n"))
	meta := []byte(`{"kind":"Backup","metadata":{"name":"b1"}}`)
	for key, body := range map[string][]byte{
		"cluster-a/backups/b1/b1.tar.gz": tarball, "cluster-a/backups/b2/b2.tar.gz": small,
		"cluster-a/backups/b1/b1-logs.gz": logs, "cluster-a/backups/b1/velero-backup.json": meta,
	} {
		require.NoError(t, s.PutObject(bucket, key, stream(body)), key)
	}

	t.Run("the contents are age files the age CLI opens with either identity", func(t *testing.T) {
		for key, plain := range map[string][]byte{"cluster-a/backups/b1/b1.tar.gz": tarball, "cluster-a/backups/b2/b2.tar.gz": small} {
			stored := rawObject(t, srv, bucket, key)
			require.True(t, bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")), "%s starts %q", key, stored[:min(len(stored), 30)])
			assert.NotContains(t, string(stored), "aHVudGVyMg==")
			for _, k := range []testenv.AgeKey{k1, k2} {
				got, err := ageDecrypt(t, ageBin, k.File, stored)
				require.NoError(t, err, "age -d -i %s", k.Recipient)
				assert.Equal(t, digest(plain), digest(got), "%s with %s", key, k.Recipient)
			}
			_, err := ageDecrypt(t, ageBin, other.File, stored)
			assert.Error(t, err, "a third identity opens nothing")
			assert.Equal(t, digest(plain), digest(readAll(t, s, bucket, key)), "GetObject through the host")
		}
	})
	t.Run("the other keys stay as Velero sent them", func(t *testing.T) {
		assert.Equal(t, logs, rawObject(t, srv, bucket, "cluster-a/backups/b1/b1-logs.gz"))
		assert.Equal(t, meta, rawObject(t, srv, bucket, "cluster-a/backups/b1/velero-backup.json"))
	})
	t.Run("a backup written before encryption still reads", func(t *testing.T) {
		assert.Equal(t, old, rawObject(t, srv, bucket, "cluster-a/backups/old/old.tar.gz"))
		assert.Equal(t, digest(old), digest(readAll(t, s, bucket, "cluster-a/backups/old/old.tar.gz")))
	})
	t.Run("the settings line shows the recipients, never the identity", func(t *testing.T) {
		line := settingsLine(t, h.Logs, 2)
		assert.Equal(t, k1.Recipient+","+k2.Recipient+" (BSL config)", line["encryptionRecipients"])
		assert.Equal(t, "<redacted: 1 age identities> (encryptionIdentityFile "+k1.File+" in BSL config; opens recipient 1)", line["encryptionIdentity"])
	})

	// Damaged copies of the tarball, written by an independent client.
	stored := rawObject(t, srv, bucket, "cluster-a/backups/b1/b1.tar.gz")
	flipped := bytes.Clone(stored)
	flipped[len(flipped)/2] ^= 0x01
	for key, data := range map[string][]byte{
		"cluster-a/backups/flip/flip.tar.gz": flipped,
		"cluster-a/backups/cut/cut.tar.gz":   stored[:len(stored)-100],
		"cluster-a/backups/cut2/cut2.tar.gz": stored[:len(stored)/2],
	} {
		_, err := srv.Client().PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	t.Run("a flipped byte or a cut object is an error, never success", func(t *testing.T) {
		for _, key := range []string{"cluster-a/backups/flip/flip.tar.gz", "cluster-a/backups/cut/cut.tar.gz", "cluster-a/backups/cut2/cut2.tar.gz"} {
			got, err := readErr(s, bucket, key)
			require.Error(t, err, "%s read %d bytes as a whole object", key, len(got))
			assert.Less(t, len(got), len(tarball), key)
			assertLogged(t, h.Logs, "error", "get object failed", key+": age decryption failed")
		}
	})

	t.Run("without an identity: the named error, and nothing else fails", func(t *testing.T) {
		s, err := reinit(t, h, srv, base("encryptionRecipients", k1.Recipient))
		require.NoError(t, err)
		_, err = readErr(s, bucket, "cluster-a/backups/b1/b1.tar.gz")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the object is encrypted with age")
		assert.Contains(t, err.Error(), "set encryptionIdentitySecret")
		assert.Equal(t, meta, readAll(t, s, bucket, "cluster-a/backups/b1/velero-backup.json"))
		assert.Equal(t, digest(old), digest(readAll(t, s, bucket, "cluster-a/backups/old/old.tar.gz")))
		require.NoError(t, s.PutObject(bucket, "cluster-a/backups/b3/b3.tar.gz", stream(small)), "writing needs only the public key")
	})
	t.Run("a wrong identity: the named error", func(t *testing.T) {
		s, err := reinit(t, h, srv, base("encryptionIdentityFile", other.File))
		require.NoError(t, err)
		_, err = readErr(s, bucket, "cluster-a/backups/b1/b1.tar.gz")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "none of the 1 identities of encryptionIdentityFile "+other.File+" opens it")
	})
	t.Run("the second identity alone reads, with encryption turned off again", func(t *testing.T) {
		s, err := reinit(t, h, srv, base("encryptionIdentityFile", k2.File))
		require.NoError(t, err)
		assert.Equal(t, digest(tarball), digest(readAll(t, s, bucket, "cluster-a/backups/b1/b1.tar.gz")))
	})

	t.Run("a truncated tarball is still refused, nothing committed", func(t *testing.T) {
		s, err := reinit(t, h, srv, sealedCfg)
		require.NoError(t, err)
		tg := &target{srv: srv, store: s, bucket: bucket, host: h}
		for i, body := range [][]byte{small[:len(small)-4], tarball[:len(tarball)*2/3]} { // one request, and multipart
			key := "cluster-a/backups/short/short.tar.gz"
			require.Error(t, s.PutObject(bucket, key, stream(body)))
			assertNothingWritten(t, tg, key, i+1)
		}
		assertLogged(t, h.Logs, "error", "put object failed", "ends before its gzip trailer")
	})

	t.Run("no key material in any log line", func(t *testing.T) {
		text := h.Logs.Text()
		for _, k := range []testenv.AgeKey{k1, k2, other} {
			assert.NotContains(t, text, k.Identity)
			assert.NotContains(t, text, k.Identity[16:40])
		}
		header := string(stored[:bytes.Index(stored, []byte("\n--- "))])
		for _, line := range strings.Split(header, "\n")[1:] { // the stanzas: "-> X25519 <share>" and the wrapped file key
			if len(line) > 8 {
				assert.NotContains(t, text, strings.TrimPrefix(line, "-> X25519 "), "a header line is logged")
			}
		}
	})
}

// The identity from a Secret in Velero's namespace, read by the plugin's
// real client-go code: the Secret that deploy/ and the README show.
func TestEncryptionIdentitySecret(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	k := testenv.NewAgeKey(t)
	api := testenv.StartKubeAPI(t)
	t.Setenv("KUBECONFIG", api.Kubeconfig)
	t.Setenv("VELERO_NAMESPACE", "velero")
	api.PutSecret("velero", "velero-backup-age", map[string]string{"key.txt": string(k.KeyFile)})
	s, h := hostStore(t, srv, storeConfig(srv, bucket, "encryptionRecipients", k.Recipient, "encryptionIdentitySecret", "velero-backup-age/key.txt"))
	body := gzipped(t, randomBytes(t, 100<<10))
	require.NoError(t, s.PutObject(bucket, "backups/b/b.tar.gz", stream(body)))
	assert.True(t, bytes.HasPrefix(rawObject(t, srv, bucket, "backups/b/b.tar.gz"), []byte("age-encryption.org/v1\n")))
	assert.Equal(t, digest(body), digest(readAll(t, s, bucket, "backups/b/b.tar.gz")))
	assert.Contains(t, settingsLine(t, h.Logs, 1)["encryptionIdentity"], "(encryptionIdentitySecret velero-backup-age/key.txt in BSL config; opens recipient 1)")

	_, err := reinit(t, h, srv, storeConfig(srv, bucket, "encryptionIdentitySecret", "velero-backup-age/nope"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `names key "nope" that Secret velero/velero-backup-age does not have`)
	assert.NotContains(t, h.Logs.Text(), k.Identity)
}
