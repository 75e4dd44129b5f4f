package objectstore

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/config"
)

// Test-only age keys. They protect nothing.
var testIdentities = []string{
	"AGE-SECRET-KEY-1VXP5YT5XM33WER046XXC44W4NSFNHZPFDN5Y4PYUARK8EAGQKS2SDH2XS4",
	"AGE-SECRET-KEY-122H425QW37K59XHFA2R5CMVZVDEVLCDPDWKFR3AE9HQ5PAY3G2YS6GFWCR",
	"AGE-SECRET-KEY-1G3WQC9A3W2QGCTAXMPQL94ZDW9GXEA368Y0K6MALVRL6R7CPS9KSWKRW0D", // a recipient of nothing below
}

func testKeys(t testing.TB) (ids []*age.X25519Identity, recipients []age.Recipient) {
	t.Helper()
	for _, s := range testIdentities {
		id, err := age.ParseX25519Identity(s)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids, []age.Recipient{ids[0].Recipient(), ids[1].Recipient()}
}

// pieces hands out at most n bytes a read, like Velero's stream, and
// counts the reads.
type pieces struct {
	r     io.Reader
	n     int
	reads int
}

func (p *pieces) Read(b []byte) (int, error) {
	p.reads++
	if len(b) > p.n {
		b = b[:p.n]
	}
	return p.r.Read(b)
}

// seal encrypts plain through a sealer as an upload reads it: in 1 MiB
// reads, body pieces of 16 KiB.
func seal(t testing.TB, plain []byte, recipients []age.Recipient, check *plainPipe) []byte {
	t.Helper()
	body := &pieces{r: bytes.NewReader(plain), n: 16 << 10}
	var counted int
	s, err := newSealer(body, recipients, check, func(n int) { counted += n })
	require.NoError(t, err)
	var out bytes.Buffer
	buf := make([]byte, 1<<20)
	reads := 0
	for {
		n, err := s.Read(buf)
		reads++
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, len(plain), counted, "the sealer counts the plaintext it read")
	assert.GreaterOrEqual(t, reads, body.reads, "a Read of the sealer reads Velero's stream at most once")
	return out.Bytes()
}

func openAll(t testing.TB, data []byte, ids []age.Identity) ([]byte, bool, error) {
	t.Helper()
	var counted int
	r, sealed, err := openBody(&pieces{r: bytes.NewReader(data), n: 100 << 10}, ids, "encryptionIdentitySecret velero/age/key", func(n int) { counted += n })
	if err != nil {
		return nil, sealed, err
	}
	var out bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			assert.Equal(t, out.Len(), counted, "what is handed out is counted")
			return out.Bytes(), sealed, nil
		}
		if err != nil {
			return out.Bytes(), sealed, err
		}
		require.NotZero(t, n, "a Read returned (0, nil)")
	}
}

// The store's side of reading age files (the streams are
// internal/agestream's, tested there): what is handed out is counted, and
// an age file the BSL cannot open fails with the BSL's settings named.
func TestOpenBody(t *testing.T) {
	ids, recipients := testKeys(t)
	for _, size := range []int{0, 64<<10 + 1} {
		plain := make([]byte, size)
		_, _ = rand.Read(plain)
		sealed := seal(t, plain, recipients, nil)
		require.True(t, bytes.HasPrefix(sealed, []byte("age-encryption.org/v1\n")))
		for i, id := range ids[:2] {
			got, isSealed, err := openAll(t, sealed, []age.Identity{id})
			require.NoError(t, err, "identity %d", i+1)
			assert.True(t, isSealed)
			assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(got), "identity %d", i+1)
		}
		_, isSealed, err := openAll(t, sealed, []age.Identity{ids[2]})
		assert.True(t, isSealed)
		assert.ErrorIs(t, err, ErrEncrypted, "an identity of another recipient")
		assert.EqualError(t, err, "the object is encrypted with age to other recipients: none of the 1 identities of encryptionIdentitySecret velero/age/key opens it; "+
			"give the identity of one of the public keys the backup was written with (age-keygen -y shows an identity's public key)")
		_, isSealed, err = openAll(t, sealed, nil)
		assert.True(t, isSealed)
		assert.ErrorIs(t, err, ErrEncrypted, "no identity")
		assert.EqualError(t, err, "the object is encrypted with age (the BSL's encryptionRecipients) and this BSL has no identity to read it: "+
			"set encryptionIdentitySecret (secretName/key of a Secret in Velero's namespace holding the AGE-SECRET-KEY-1… file) "+
			"or encryptionIdentityFile on the BSL")
		if size > 0 {
			_, _, err = openAll(t, sealed[:len(sealed)-1], []age.Identity{ids[0]})
			assert.ErrorIs(t, err, ErrDecrypt, "cut short")
			assert.Contains(t, err.Error(), "age decryption failed: a chunk after 65536 bytes of plaintext fails its authentication: the object is truncated")
		}
	}
	for _, body := range [][]byte{{}, []byte("{}"), bytes.Repeat([]byte("velero "), 50000)} {
		got, isSealed, err := openAll(t, body, []age.Identity{ids[0]})
		require.NoError(t, err)
		assert.False(t, isSealed)
		assert.Equal(t, body, append([]byte{}, got...), "a plain body as it is")
	}
	broken := errors.New("get b/k: connection broken")
	_, _, err := openBody(&failing{err: broken}, []age.Identity{ids[0]}, "", func(int) {})
	assert.ErrorIs(t, err, broken, "the download's own error")
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// The body check gets every plaintext byte in order through the ring,
// however the writes and reads are cut, and stops nobody once it ends.
func TestPlainPipe(t *testing.T) {
	plain := make([]byte, 3<<20+17)
	_, _ = rand.Read(plain)
	p := newPlainPipe(1000)
	got := make(chan []byte)
	go func() {
		var out bytes.Buffer
		buf := make([]byte, 333)
		for {
			n, err := p.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				got <- out.Bytes()
				return
			}
		}
	}()
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%4096)
		p.Write(rest[:n])
		rest = rest[n:]
	}
	p.closeWrite()
	assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(<-got))

	early := newPlainPipe(10)
	early.closeRead()
	early.Write(make([]byte, 100)) // returns: nobody reads any more
}

// The check of an encrypted .gz upload sees the plaintext: a whole gzip
// stream passes, one cut short fails, though both are sealed whole.
func TestSealFeedsCheck(t *testing.T) {
	_, recipients := testKeys(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte("apiVersion: v1\nkind: Secret\n"), 40000))
	require.NoError(t, zw.Close())
	for name, body := range map[string][]byte{"whole": gz.Bytes(), "cut": gz.Bytes()[:gz.Len()-9]} {
		g := newPlainCheck(&gzipBody)
		seal(t, body, recipients, g.pipe)
		g.end()
		err := g.result(int64(len(body)))
		if name == "whole" {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, ErrTruncated)
			assert.Contains(t, err.Error(), "ends before its gzip trailer")
		}
	}
}

func TestEncryptsKey(t *testing.T) {
	_, recipients := testKeys(t)
	for _, c := range []struct {
		key           string
		contents, all bool
	}{
		{"backups/b1/b1.tar.gz", true, true},
		{"cluster-a/backups/b1/b1.tar.gz", true, true},
		{"backups/b1/b1-logs.gz", false, true},
		{"backups/b1/b1-resource-list.json.gz", false, true},
		{"backups/b1/velero-backup.json", false, false},
		{"backups/b1/b2.tar.gz", false, true},
		{"restores/r1/restore-r1-logs.gz", false, true},
		{"other/b1/b1.tar.gz", false, true},
	} {
		s := &Store{cfg: &config.ObjectStore{EncryptionScope: config.ScopeBackupContents}}
		assert.False(t, s.encrypts(c.key), "no recipients: %s", c.key)
		s.cfg.EncryptionRecipients = []*age.X25519Recipient{recipients[0].(*age.X25519Recipient)}
		assert.Equal(t, c.contents, s.encrypts(c.key), "backupContents: %s", c.key)
		s.cfg.EncryptionScope = config.ScopeAllGzip
		assert.Equal(t, c.all, s.encrypts(c.key), "allGzip: %s", c.key)
	}
}
