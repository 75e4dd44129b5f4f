package objectstore

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"filippo.io/age"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/agestream"
)

// Client-side encryption: with encryptionRecipients set, the keys of
// encryptionScope are stored as age files (age-encryption.org/v1, X25519
// recipients), made as the body streams from Velero. The body check sees
// the plaintext before it is sealed; the parts, their checksums, the size
// check, Object Lock and the memory budget see the ciphertext, which is
// what S3 stores. Reading opens any object that starts with age's header
// and hands every other on as it is, so a BSL that turns encryption on
// still restores its older backups. The resume of a broken download works
// on the ciphertext, below the decryption. This file holds which keys are
// encrypted and the BSL's words for the errors; the age streams are
// internal/agestream's.

// ErrEncrypted says an object is an age file that the identities at hand
// (none, or the wrong ones) cannot open.
var ErrEncrypted = agestream.ErrEncrypted

// ErrDecrypt says an age file failed its authentication: it is truncated,
// or a byte of it was altered. No plaintext of the failing chunk is given.
var ErrDecrypt = agestream.ErrDecrypt

// encrypts reports whether key is written encrypted: with recipients set,
// Velero's backup contents (<prefix>/backups/<name>/<name>.tar.gz), or
// with encryptionScope allGzip every .gz key.
func (s *Store) encrypts(key string) bool {
	c := s.cfg
	if !c.Encrypted() {
		return false
	}
	if c.EncryptionScope == config.ScopeAllGzip {
		return strings.HasSuffix(key, ".gz")
	}
	return backupContents(key)
}

// backupContents is true for Velero's backup tarball,
// [<prefix>/]backups/<name>/<name>.tar.gz (getBackupContentsKey in
// Velero's pkg/persistence/object_store_layout.go).
func backupContents(key string) bool {
	dir := path.Dir(key)
	return path.Base(key) == path.Base(dir)+".tar.gz" && path.Base(path.Dir(dir)) == "backups"
}

// newSealer encrypts body to age recipients as the upload reads it (see
// agestream.EncryptReader: each Read makes at most one read of Velero's
// stream, so the upload's stall timer sees every wait for Velero). It
// counts the plaintext, so progress lines show what Velero sent, and
// hands it to the body check through plain (nil for none).
func newSealer(body io.Reader, recipients []age.Recipient, plain *plainPipe, count func(int)) (io.Reader, error) {
	seen := func(b []byte) {
		count(len(b))
		if plain != nil {
			plain.Write(b)
		}
	}
	return agestream.EncryptReader(body, seen, recipients...)
}

// openBody reads the start of an object's body. One that begins with
// age's header is decrypted with ids as it is read; any other is handed on
// as it is (agestream.Decrypt). The reader returned counts what it hands
// out (the plaintext) and never returns (0, nil). source names the setting
// that supplies the identities, for the errors; the errors never quote
// the header, whose stanzas wrap the file key.
func openBody(body io.Reader, ids []age.Identity, source string, count func(int)) (io.Reader, bool, error) {
	r, sealed, err := agestream.Decrypt(body, ids...)
	switch {
	case errors.Is(err, ErrEncrypted) && len(ids) == 0:
		return nil, true, fmt.Errorf("%w with age (the BSL's encryptionRecipients) and this BSL has no identity to read it: "+
			"set encryptionIdentitySecret (secretName/key of a Secret in Velero's namespace holding the AGE-SECRET-KEY-1… file) "+
			"or encryptionIdentityFile on the BSL", ErrEncrypted)
	case errors.Is(err, ErrEncrypted):
		return nil, true, fmt.Errorf("%w with age to other recipients: none of the %d identities of %s opens it; "+
			"give the identity of one of the public keys the backup was written with (age-keygen -y shows an identity's public key)",
			ErrEncrypted, len(ids), source)
	case err != nil:
		return nil, sealed, err
	}
	return &counted{r: r, count: count}, sealed, nil
}

// counted counts what it hands out and never returns (0, nil).
type counted struct {
	r     io.Reader
	count func(int)
}

func (c *counted) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := c.r.Read(p)
		c.count(n)
		if n > 0 || err != nil {
			return n, err
		}
	}
}
