package verify_test

import (
	"crypto/rand"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/minisig"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

// signer signs stored objects as the plugin does with signingKey: over
// the stored bytes, naming the key under the BSL's prefix.
type signer struct {
	sk  *minisig.SecretKey
	pub string
}

func newSigner(t *testing.T) signer {
	lpub, lsk, err := minisign.GenerateKey(rand.Reader)
	require.NoError(t, err)
	text, err := lsk.MarshalText()
	require.NoError(t, err)
	sk, err := minisig.ParseSecretKey(text)
	require.NoError(t, err)
	return signer{sk: sk, pub: lpub.String()}
}

// sign writes <key>.minisig for each object of backup as stored now.
func (s signer) sign(t *testing.T, l *location, backup string) {
	for _, base := range sortedBases(backupObjects(t, backupSpec{name: backup})) {
		rel := path.Join("backups", backup, base)
		d := minisig.NewDigest()
		_, _ = d.Write(l.stored(t, l.key(backup, base)))
		l.putRaw(t, l.key(backup, base)+".minisig", s.sk.Sign(d, rel, time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)))
	}
}

func sortedBases(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestVerifySignatures(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	l := newLocation(t, srv, srv.MakeBucket(t), "cluster-a", map[string]string{})
	s, stranger := newSigner(t), newSigner(t)
	for _, b := range []string{"b-signed", "b-tampered", "b-copied", "b-unsigned"} {
		writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: b})
		s.sign(t, l, b)
	}
	// a valid tarball of other contents: the same items, another spec
	tampered := tarballWith(t, defaultItems, `{"image":"attacker/miner"}`)
	l.putRaw(t, l.key("b-tampered", "b-tampered.tar.gz"), tampered)
	// another backup's tarball and signature, copied over
	l.putRaw(t, l.key("b-copied", "b-copied.tar.gz"), l.stored(t, l.key("b-signed", "b-signed.tar.gz")))
	l.putRaw(t, l.key("b-copied", "b-copied.tar.gz.minisig"), l.stored(t, l.key("b-signed", "b-signed.tar.gz.minisig")))
	require.NoError(t, srv.Client().RemoveObject(t.Context(), l.bucket, l.key("b-unsigned", "b-unsigned-logs.gz.minisig"), minio.RemoveObjectOptions{}))

	out, stderr, code := l.verify(t, "--public-key", s.pub)
	t.Logf("%s\n%s", out, stderr)
	assert.Equal(t, 1, code)
	id := s.sk.ID().String()
	assert.Equal(t, "✓ signatures: 9 objects signed by minisign key "+id+", each signature naming its own object", backupLines(out, "b-signed")[4])
	assert.Equal(t, "backup b-signed: all 5 checks passed", backupLines(out, "b-signed")[5])
	assert.Equal(t, []string{
		"✓ items against b-tampered-resource-list.json.gz: 4 items of 4 kinds, each listed and each in the tarball (the list names 4)",
		"✗ signatures: b-tampered.tar.gz: the signature does not verify: the data is not what key " + id + " signed (it was altered or replaced)" +
			"\nfix: the objects named were changed, replaced or copied after the backup was written: restore from another backup, and find who can write to the bucket",
		"backup b-tampered: 1 of 5 checks failed",
	}, backupLines(out, "b-tampered")[3:])
	assert.Equal(t, `✗ signatures: b-copied.tar.gz: the signature is of another object: it signs "backups/b-signed/b-signed.tar.gz" (written 2026-12-06T22:00:00Z), not "backups/b-copied/b-copied.tar.gz": that object's data was copied here`+
		"\nfix: the objects named were changed, replaced or copied after the backup was written: restore from another backup, and find who can write to the bucket",
		backupLines(out, "b-copied")[4])
	assert.Equal(t, "✗ signatures: b-unsigned-logs.gz has no signature (b-unsigned-logs.gz.minisig is not there)", strings.Split(backupLines(out, "b-unsigned")[4], "\n")[0])
	assert.Contains(t, out, "BackupStorageLocation velero/default: 4 backups, 1 passed, 3 failed\n")

	t.Run("another key", func(t *testing.T) {
		out, _, code := l.verify(t, "--public-key", stranger.pub, "--backup", "b-signed")
		assert.Equal(t, 1, code)
		assert.Contains(t, backupLines(out, "b-signed")[4], fmt.Sprintf("the signature is by an unknown key: it was made by minisign key %s, and the keys accepted are %s", id, stranger.sk.ID()))
	})
	t.Run("no key", func(t *testing.T) {
		out, _, code := l.verify(t, "--backup", "b-signed")
		assert.Equal(t, 0, code)
		assert.Equal(t, "- signatures: 9 objects have a .minisig, not checked: no public key given (--public-key, or the BSL's verifyPublicKeys or signing key)", backupLines(out, "b-signed")[4])
	})
	t.Run("quick", func(t *testing.T) {
		out, _, code := l.verify(t, "--public-key", s.pub, "--backup", "b-tampered", "--quick")
		assert.Equal(t, 0, code, "the tarball is not read: %s", out)
		assert.Equal(t, "✓ signatures: 8 objects signed by minisign key "+id+", each signature naming its own object (the tarball's not checked: --quick)", backupLines(out, "b-tampered")[3])
	})
	t.Run("the BSL's verifyPublicKeys", func(t *testing.T) {
		cfg := map[string]string{"verifyPublicKeys": s.pub}
		bsl := newLocation(t, srv, l.bucket, "cluster-a", cfg)
		out, _, code := bsl.verify(t, "--backup", "b-copied")
		assert.Equal(t, 1, code)
		assert.Contains(t, backupLines(out, "b-copied")[4], `✗ signatures: b-copied.tar.gz: the signature is of another object: it signs "backups/b-signed/b-signed.tar.gz"`)
	})
	t.Run("bad key", func(t *testing.T) {
		_, stderr, code := l.verify(t, "--public-key", "RWQnot-a-key")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "--public-key: key 1 of 1 is not a minisign public key")
	})
}
