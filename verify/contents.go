package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/minisig"
	"example.io/velero-plugin-s3csi/objectstore"
)

// contents reads the tarball once, as stored: its age encryption, then
// (when it can be opened) the gzip stream, the tar and its items, held to
// the resource list.
// It returns the digest of the tarball's stored bytes when signatures
// are checked and it was read whole, else why not.
func (v *verifier) contents(ctx context.Context, c *checks, dir, name string, doc *backupDoc, present map[string]objectstore.ObjectInfo) (*minisig.Digest, error) {
	tarName, listName := name+".tar.gz", name+"-resource-list.json.gz"
	var list map[string][]string
	var listErr error
	_, listed := present[listName]
	if listed {
		var data []byte
		if data, listErr = v.readSmall(dir + listName); listErr == nil {
			list, listErr = readResourceList(data)
		}
	}
	if _, ok := present[tarName]; !ok {
		c.note("tarball "+tarName, "not read: it is not there")
		return nil, errors.New("it is not there")
	}
	var digest *minisig.Digest
	if len(v.keys) > 0 {
		digest = minisig.NewDigest()
	}
	t := v.readTarball(ctx, dir+tarName, present[tarName].Size, digest)
	tarErr := t.readErr
	if tarErr != nil {
		digest = nil
	}
	switch {
	case t.age == nil && t.readErr == nil && v.c.Encrypted():
		c.note("age encryption of "+tarName, "stored plain: written before encryptionRecipients was set, or not by this plugin")
	case t.age != nil || v.c.Encrypted():
		c.check("age encryption of "+tarName, func() (string, error) { return v.describeAge(t) })
	}
	switch {
	case t.unread != "":
		c.note("tarball "+tarName, "not read: "+t.unread)
		c.note("items against "+listName, "not compared: the tarball was not read")
		return digest, tarErr
	case t.decryptErr != nil:
		c.note("tarball "+tarName, "not judged: its decryption failed")
		c.note("items against "+listName, "not compared: the tarball was not read whole")
		return digest, tarErr
	}
	if !c.check("tarball "+tarName, func() (string, error) { return describeArchive(t) }) {
		c.note("items against "+listName, "not compared: the tarball is not whole")
		return digest, tarErr
	}
	if !listed {
		c.note("items against "+listName, "not compared: it is not there")
		return digest, tarErr
	}
	c.check("items against "+listName, func() (string, error) {
		if listErr != nil {
			if errors.Is(listErr, objectstore.ErrEncrypted) {
				return "", finding.Fail("", listErr, "give the BSL's age identity (encryptionIdentitySecret or encryptionIdentityFile)")
			}
			return "", fmt.Errorf("%s %w", listName, listErr)
		}
		return describeItems(t.archive, list, doc.Status.Phase)
	})
	return digest, tarErr
}

// tarball is what one read of a stored tarball found.
type tarball struct {
	stored      int64    // bytes read as stored
	age         *ageFile // its age header; nil for a plain object
	opened      string   // the recipient whose identity opened it
	unread      string   // why the contents were not read ("": they were)
	decryptErr  error    // the age payload failed (truncated or altered)
	readErr     error    // the download itself failed
	archive     *archive // what the gzip+tar held, as far as it was read
	archiveErr  error    // why it is not a whole gzip stream of a valid tar
	sealedPlain int64    // plaintext bytes of an age file
}

// readTarball reads key as stored, with progress on stderr, and checks
// what it holds.
// digest, when not nil, hashes every stored byte: the object is read to
// its end even when its contents cannot be opened.
func (v *verifier) readTarball(ctx context.Context, key string, size int64, digest *minisig.Digest) *tarball {
	t := &tarball{}
	rc, err := v.s.GetStored(ctx, v.c.Bucket, key)
	if err != nil {
		t.readErr = err
		t.unread = err.Error()
		return t
	}
	defer rc.Close()
	pr := v.prog.reader(key, size, &ctxReader{ctx: ctx, r: rc})
	var stored io.Reader = pr
	if digest != nil {
		stored = io.TeeReader(pr, digest)
	}
	br := bufio.NewReaderSize(stored, 64<<10)
	defer func() {
		if digest != nil {
			if _, err := io.Copy(io.Discard, br); err != nil && t.readErr == nil {
				t.readErr = err
			}
		}
		t.stored = pr.n
		pr.done()
	}()
	if t.age, err = peekAge(br); err != nil {
		t.age = &ageFile{bad: err}
		t.unread = "its age header is not one age writes"
		return t
	}
	src := io.Reader(br)
	if t.age != nil {
		if len(v.c.EncryptionIdentities) == 0 {
			t.unread = "it is encrypted, and the BSL gives no age identity (encryptionIdentitySecret or encryptionIdentityFile)"
			return t
		}
		t.opened = t.age.openedBy(v.c.EncryptionIdentities)
		if t.opened == "" {
			t.unread = "none of the BSL's age identities opens it"
			return t
		}
		plain, _, err := v.s.Open(br)
		if err != nil {
			t.decryptErr = err
			return t
		}
		cr := &countReader{r: plain}
		src = cr
		defer func() { t.sealedPlain = cr.n }()
	}
	t.archive, t.archiveErr = readArchive(src)
	if cr, ok := src.(*countReader); ok && cr.err != nil && errors.Is(cr.err, objectstore.ErrDecrypt) {
		t.decryptErr, t.archiveErr = cr.err, nil // the age file failed, not the gzip in it
	}
	return t
}

// describeArchive judges the gzip and tar of a read tarball.
func describeArchive(t *tarball) (string, error) {
	if t.archiveErr != nil {
		err := t.archiveErr
		if errors.Is(err, errTruncated) {
			return "", finding.Fail("", fmt.Errorf("%w (%s stored)", err, size(t.stored)),
				"the object is cut short: Velero cannot restore it; restore from another backup")
		}
		return "", finding.Fail("", err, "it is not the tarball Velero wrote: restore from another backup")
	}
	if len(t.archive.bad) > 0 {
		return "", fmt.Errorf("entries that are not Velero's: %s", some(t.archive.bad, 3))
	}
	items, _ := t.archive.count()
	return fmt.Sprintf("one whole gzip stream of a valid tar: %d entries, %d items (%s stored)", t.archive.entries, items, size(t.stored)), nil
}

// describeItems holds the tarball's items to the resource list.
func describeItems(a *archive, list map[string][]string, phase string) (string, error) {
	missing, extra, listed := compareItems(a, list)
	items, kinds := a.count()
	switch {
	case len(extra) > 0:
		return "", finding.Fail("", fmt.Errorf("the tarball holds %d items the resource list does not name: %s", len(extra), some(extra, 3)),
			"a restore would create them: the tarball is not the one this backup wrote; restore from another backup")
	case len(missing) > 0 && phase == "Completed":
		return "", finding.Fail("", fmt.Errorf("%d listed items are not in the tarball: %s", len(missing), some(missing, 3)),
			"a restore would lack them: restore from another backup")
	case len(missing) > 0:
		return fmt.Sprintf("%d items of %d kinds in the tarball; %d listed items are not (%s): the backup is PartiallyFailed, and Velero lists an item whose backup failed",
			items, kinds, len(missing), some(missing, 3)), nil
	}
	return fmt.Sprintf("%d items of %d kinds, each listed and each in the tarball (the list names %d)", items, kinds, listed), nil
}

// describeAge judges the tarball's age encryption.
func (v *verifier) describeAge(t *tarball) (string, error) {
	switch {
	case t.age == nil && t.readErr != nil:
		return "", t.readErr
	case t.age.bad != nil:
		return "", finding.Fail("", t.age.bad, "it is not the file age wrote: restore from another backup")
	case t.opened == "" && len(v.c.EncryptionIdentities) > 0:
		return "", finding.Fail("", fmt.Errorf("%s; none of the %d identities of %s opens it", t.age.describe(), len(v.c.EncryptionIdentities), v.c.IdentitySource()),
			"give the identity of a public key the backup was written with (age-keygen -y shows an identity's public key)")
	case t.opened == "":
		return t.age.describe() + "; X25519 stanzas do not name their recipient, and the payload is not read: the BSL gives no identity", nil
	case t.decryptErr != nil:
		return "", finding.Fail("", t.decryptErr, "the object is truncated or was altered: restore from another backup")
	}
	whose := "a key the BSL's identities hold"
	if v.recipient(t.opened) {
		whose = "one of the BSL's encryptionRecipients"
	}
	return fmt.Sprintf("%s; opened by the identity of %s (%s); every chunk authenticated (%s of plaintext)", t.age.describe(), short(t.opened), whose, size(t.sealedPlain)), nil
}

func (v *verifier) recipient(r string) bool {
	for _, rc := range v.c.EncryptionRecipients {
		if rc.String() == r {
			return true
		}
	}
	return false
}

// short is enough of an age public key to tell it: age1 and 8 more.
func short(r string) string {
	if len(r) > 12 {
		return r[:12] + "…"
	}
	return r
}

// ctxReader ends a read when verify is interrupted.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// countReader counts what it reads and keeps the first error but EOF.
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && c.err == nil {
		c.err = err
	}
	return n, err
}
