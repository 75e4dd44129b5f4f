package verify_test

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"aead.dev/minisign"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/minisig"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

// newSigner is a key pair made with the aead.dev/minisign library: a
// signer the BSL does not know.
func newSigner(t *testing.T) *minisig.SecretKey {
	_, lsk, err := minisign.GenerateKey(rand.Reader)
	require.NoError(t, err)
	text, err := lsk.MarshalText()
	require.NoError(t, err)
	sk, err := minisig.ParseSecretKey(text)
	require.NoError(t, err)
	return sk
}

func TestVerifySignatures(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	key := testenv.NewMinisignKey(t)
	pub, err := minisig.ParsePublicKey(key.PublicKey)
	require.NoError(t, err)
	id := pub.ID.String()
	stranger := newSigner(t)
	// The BSL signs with its key: the plugin writes <key>.minisig beside
	// each object as Velero's server writes the backup through it.
	l := newLocation(t, srv, srv.MakeBucket(t), "cluster-a", map[string]string{"signingKeyFile": key.File})
	for _, b := range []string{"b-signed", "b-tampered", "b-copied", "b-unsigned"} {
		writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: b})
	}
	// a valid tarball of other contents: the same items, another spec
	l.putRaw(t, l.key("b-tampered", "b-tampered.tar.gz"), tarballWith(t, defaultItems, `{"image":"attacker/miner"}`))
	// another backup's tarball and signature, copied over
	l.putRaw(t, l.key("b-copied", "b-copied.tar.gz"), l.stored(t, l.key("b-signed", "b-signed.tar.gz")))
	l.putRaw(t, l.key("b-copied", "b-copied.tar.gz.minisig"), l.stored(t, l.key("b-signed", "b-signed.tar.gz.minisig")))
	require.NoError(t, srv.Client().RemoveObject(t.Context(), l.bucket, l.key("b-unsigned", "b-unsigned-logs.gz.minisig"), minio.RemoveObjectOptions{}))

	out, stderr, code := l.verify(t)
	t.Logf("%s\n%s", out, stderr)
	assert.Equal(t, 1, code)
	assert.Equal(t, "✓ signatures: 9 objects signed by minisign key "+id+", each signature naming its own object", backupLines(out, "b-signed")[4])
	assert.Equal(t, "backup b-signed: all 5 checks passed", backupLines(out, "b-signed")[5])
	assert.Equal(t, []string{
		"✓ items against b-tampered-resource-list.json.gz: 4 items of 4 kinds, each listed and each in the tarball (the list names 4)",
		"✗ signatures: b-tampered.tar.gz: the signature does not verify: the data is not what key " + id + " signed (it was altered or replaced)" +
			"\nfix: the objects named were changed, replaced or copied after the backup was written: restore from another backup, and find who can write to the bucket",
		"backup b-tampered: 1 of 5 checks failed",
	}, backupLines(out, "b-tampered")[3:])
	copied := backupLines(out, "b-copied")[4]
	assert.True(t, strings.HasPrefix(copied, `✗ signatures: b-copied.tar.gz: the signature is of another object: it signs "backups/b-signed/b-signed.tar.gz" (written `), copied)
	assert.Contains(t, copied, `), not "backups/b-copied/b-copied.tar.gz": that object's data was copied here`+
		"\nfix: the objects named were changed, replaced or copied after the backup was written: restore from another backup, and find who can write to the bucket")
	assert.Equal(t, "✗ signatures: b-unsigned-logs.gz has no signature (b-unsigned-logs.gz.minisig is not there)", strings.Split(backupLines(out, "b-unsigned")[4], "\n")[0])
	assert.Contains(t, out, "BackupStorageLocation velero/default: 4 backups, 1 passed, 3 failed\n")

	// A location that only reads: no key of its own.
	reader := newLocation(t, srv, l.bucket, "cluster-a", map[string]string{})
	t.Run("--public-key", func(t *testing.T) {
		out, _, code := reader.verify(t, "--public-key", key.PublicKey, "--backup", "b-copied")
		assert.Equal(t, 1, code)
		assert.Contains(t, backupLines(out, "b-copied")[4], `✗ signatures: b-copied.tar.gz: the signature is of another object: it signs "backups/b-signed/b-signed.tar.gz"`)
		out, _, code = reader.verify(t, "--public-key", key.PublicKey, "--backup", "b-signed")
		assert.Equal(t, 0, code, out)
	})
	t.Run("the BSL's verifyPublicKeys", func(t *testing.T) {
		bsl := newLocation(t, srv, l.bucket, "cluster-a", map[string]string{"verifyPublicKeys": key.PublicKey, "requireSignatures": "true"})
		out, _, code := bsl.verify(t, "--backup", "b-tampered")
		assert.Equal(t, 1, code)
		assert.Contains(t, backupLines(out, "b-tampered")[4], "✗ signatures: b-tampered.tar.gz: the signature does not verify")
		out, _, code = bsl.verify(t, "--backup", "b-signed")
		assert.Equal(t, 0, code, "its metadata and list read with their signatures checked: %s", out)
		out, _, code = bsl.verify(t, "--backup", "b-none")
		assert.Equal(t, 1, code)
		assert.Equal(t, "✗ velero-backup.json: not there"+
			"\nfix: Velero writes it with every backup and lists backups by it: without it this folder is not a backup Velero restores", backupLines(out, "b-none")[0])
	})
	t.Run("another key", func(t *testing.T) {
		out, _, code := reader.verify(t, "--public-key", stranger.Public().String(), "--backup", "b-signed")
		assert.Equal(t, 1, code)
		assert.Contains(t, backupLines(out, "b-signed")[4], fmt.Sprintf("the signature is by an unknown key: it was made by minisign key %s, and the keys accepted are %s", id, stranger.ID()))
	})
	t.Run("no key", func(t *testing.T) {
		out, _, code := reader.verify(t, "--backup", "b-signed")
		assert.Equal(t, 0, code)
		assert.Equal(t, "- signatures: signed (b-signed.tar.gz.minisig is there), not checked: no public key given (--public-key, or the BSL's verifyPublicKeys or signing key)", backupLines(out, "b-signed")[4])
	})
	t.Run("quick", func(t *testing.T) {
		out, _, code := l.verify(t, "--backup", "b-tampered", "--quick")
		assert.Equal(t, 0, code, "the tarball is not read: %s", out)
		assert.Equal(t, "✓ signatures: 8 objects signed by minisign key "+id+", each signature naming its own object (the tarball's not checked: --quick)", backupLines(out, "b-tampered")[3])
	})
	t.Run("bad key", func(t *testing.T) {
		_, stderr, code := l.verify(t, "--public-key", "RWQnot-a-key")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "--public-key: key 1 of 1 is not a minisign public key")
	})
}
