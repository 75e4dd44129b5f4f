package agestream_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/agestream"
)

// Test-only age keys, fixed so that a fuzz corpus in testdata stays
// decryptable from run to run. They protect nothing.
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

// seal encrypts plain through EncryptReader as an upload reads it: in
// 1 MiB reads, body pieces of 16 KiB.
func seal(t testing.TB, plain []byte, recipients []age.Recipient) []byte {
	t.Helper()
	body := &pieces{r: bytes.NewReader(plain), n: 16 << 10}
	var seen bytes.Buffer
	s, err := agestream.EncryptReader(body, func(b []byte) { seen.Write(b) }, recipients...)
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
	assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(seen.Bytes()), "seen is given the plaintext, in order")
	assert.GreaterOrEqual(t, reads, body.reads, "a Read of the encrypting reader reads src at most once")
	return out.Bytes()
}

// openAll decrypts data whole as a download hands it over, in pieces of
// 100 KiB, and holds the reader to never returning (0, nil).
func openAll(t testing.TB, data []byte, ids []age.Identity) ([]byte, bool, error) {
	t.Helper()
	r, sealed, err := agestream.Decrypt(&pieces{r: bytes.NewReader(data), n: 100 << 10}, ids...)
	if err != nil {
		return nil, sealed, err
	}
	var out bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return out.Bytes(), sealed, nil
		}
		if err != nil {
			return out.Bytes(), sealed, err
		}
		require.NotZero(t, n, "a Read returned (0, nil)")
	}
}

func TestRoundTrip(t *testing.T) {
	ids, recipients := testKeys(t)
	for _, size := range []int{0, 1, 21, 22, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3 * 64 << 10, 1<<20 + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			plain := make([]byte, size)
			_, _ = rand.Read(plain)
			sealed := seal(t, plain, recipients)
			require.True(t, bytes.HasPrefix(sealed, []byte(agestream.Magic)))
			for i, id := range ids[:2] {
				got, isSealed, err := openAll(t, sealed, []age.Identity{id})
				require.NoError(t, err, "identity %d", i+1)
				assert.True(t, isSealed)
				assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(got), "identity %d", i+1)
			}
			_, isSealed, err := openAll(t, sealed, []age.Identity{ids[2]})
			assert.ErrorIs(t, err, agestream.ErrEncrypted, "an identity of another recipient")
			assert.EqualError(t, err, "the object is encrypted with age to other recipients: none of the 1 identities opens it")
			assert.True(t, isSealed)
			_, isSealed, err = openAll(t, sealed, nil)
			assert.ErrorIs(t, err, agestream.ErrEncrypted, "no identity")
			assert.EqualError(t, err, "the object is encrypted with age, and no identity was given to read it")
			assert.True(t, isSealed)
		})
	}
}

// Streams that are not age files read as they are, whatever their size
// relative to the header.
func TestDecryptPlain(t *testing.T) {
	ids, _ := testKeys(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte("velero "), 50000))
	require.NoError(t, zw.Close())
	for name, data := range map[string][]byte{
		"empty": {}, "short": []byte("{}"), "header without newline": []byte(agestream.Magic[:21]),
		"gzip": gz.Bytes(), "json": []byte(`{"kind":"Backup"}`), "armored age": []byte("-----BEGIN AGE ENCRYPTED FILE-----\n"),
	} {
		got, sealed, err := openAll(t, data, []age.Identity{ids[0]})
		require.NoError(t, err, name)
		assert.False(t, sealed, name)
		assert.Equal(t, data, append([]byte{}, got...), name)
	}
}

// Every truncation and every flipped byte of an age file is an error:
// never a success, never a short read reported as the end.
func TestDamage(t *testing.T) {
	ids, recipients := testKeys(t)
	plain := make([]byte, 3*64<<10+100)
	_, _ = rand.Read(plain)
	sealed := seal(t, plain, recipients)
	headerEnd := bytes.Index(sealed, []byte("\n--- ")) + 1
	headerEnd += bytes.IndexByte(sealed[headerEnd:], '\n') + 1
	const enc = 64<<10 + 16
	payload := headerEnd + 16 // after the nonce
	cuts := []int{len(agestream.Magic), headerEnd - 1, headerEnd, headerEnd + 8, payload, payload + 1, payload + enc, payload + enc + 1, payload + 3*enc, len(sealed) - 1}
	for _, cut := range cuts {
		_, _, err := openAll(t, sealed[:cut], []age.Identity{ids[0]})
		require.Error(t, err, "cut at %d of %d", cut, len(sealed))
		assert.True(t, errors.Is(err, agestream.ErrDecrypt) || errors.Is(err, agestream.ErrEncrypted), "cut at %d: %v", cut, err)
		if cut >= payload+enc { // inside a chunk age cannot tell a cut from an altered byte
			assert.ErrorIs(t, err, agestream.ErrDecrypt, "cut at %d", cut)
			assert.Contains(t, err.Error(), "truncated")
		}
	}
	for _, at := range []int{len(agestream.Magic) + 3, headerEnd - 3, headerEnd + 2, payload + 5, payload + enc + 7, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[at] ^= 0x20
		_, _, err := openAll(t, bad, []age.Identity{ids[0]})
		require.Error(t, err, "flip at %d", at)
		assert.True(t, errors.Is(err, agestream.ErrDecrypt) || errors.Is(err, agestream.ErrEncrypted), "flip at %d: %v", at, err)
		if at >= payload {
			assert.ErrorIs(t, err, agestream.ErrDecrypt, "flip at %d", at)
		}
	}
	_, _, err := openAll(t, append(bytes.Clone(sealed), 'x'), []age.Identity{ids[0]})
	assert.ErrorIs(t, err, agestream.ErrDecrypt, "trailing data")
}

// A failure of the ciphertext's own reader (the download's error) is
// what the reader gets, not age's view of it; so is a failure of the
// plaintext's source when encrypting.
func TestKeepsReadError(t *testing.T) {
	ids, recipients := testKeys(t)
	sealed := seal(t, make([]byte, 200<<10), recipients)
	broken := errors.New("get b/k: at byte 70000: connection broken")
	r, _, err := agestream.Decrypt(io.MultiReader(bytes.NewReader(sealed[:70000]), &failing{err: broken}), ids[0])
	require.NoError(t, err)
	_, err = io.ReadAll(r)
	assert.ErrorIs(t, err, broken)
	assert.NotErrorIs(t, err, agestream.ErrDecrypt)

	_, _, err = agestream.Decrypt(io.MultiReader(bytes.NewReader(sealed[:40]), &failing{err: broken}), ids[0])
	assert.ErrorIs(t, err, broken, "inside the header")
	assert.NotErrorIs(t, err, agestream.ErrDecrypt)

	w, err := agestream.EncryptReader(io.MultiReader(bytes.NewReader(make([]byte, 100<<10)), &failing{err: broken}), nil, recipients...)
	require.NoError(t, err)
	_, err = io.ReadAll(w)
	assert.ErrorIs(t, err, broken)
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// The reader of the payload follows age's own: for every size around
// the chunk edges, every cut and a flipped byte at many places, both
// give the same plaintext or both fail.
func TestPayloadMatchesLibrary(t *testing.T) {
	ids, recipients := testKeys(t)
	library := func(data []byte) ([]byte, error) {
		r, err := age.Decrypt(bytes.NewReader(data), ids[0])
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 2 * 64 << 10, 2*64<<10 + 17} {
		plain := make([]byte, size)
		_, _ = rand.Read(plain)
		sealed := seal(t, plain, recipients)
		variants := map[string][]byte{"whole": sealed, "trailing byte": append(bytes.Clone(sealed), 0)}
		for cut := len(sealed) - 1; cut > len(sealed)-3*(64<<10+16) && cut > 0; cut -= 4099 {
			variants[fmt.Sprintf("cut at %d", cut)] = sealed[:cut]
		}
		for _, at := range []int{len(sealed) - 1, len(sealed) - 17, len(sealed) / 2, len(sealed) - 64<<10} {
			if at > 0 && at < len(sealed) {
				bad := bytes.Clone(sealed)
				bad[at] ^= 0x80
				variants[fmt.Sprintf("flip at %d", at)] = bad
			}
		}
		for name, data := range variants {
			want, wantErr := library(data)
			got, _, gotErr := openAll(t, data, []age.Identity{ids[0]})
			require.Equal(t, wantErr == nil, gotErr == nil, "size %d, %s: library %v, payload %v", size, name, wantErr, gotErr)
			if wantErr == nil {
				assert.Equal(t, sha256.Sum256(want), sha256.Sum256(got), "size %d, %s", size, name)
				assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(got), "size %d, %s", size, name)
			}
		}
	}
}

// FuzzDecrypt feeds the read path anything: plain streams, age files of
// the test keys, and their truncations and corruptions. Beyond "no
// panic": a stream without age's header reads back as it is; an age file
// reads back only as a plaintext that was sealed (the seeds' plaintexts),
// never as anything else; every failure is ErrEncrypted or ErrDecrypt;
// no error quotes an identity or the header's stanzas.
//
//	go test -run '^$' -fuzz '^FuzzDecrypt$' -fuzztime 60s ./internal/agestream/
func FuzzDecrypt(f *testing.F) {
	ids, recipients := testKeys(f)
	known := map[[32]byte]bool{}
	for _, size := range []int{0, 5, 1000, 64 << 10, 64<<10 + 3} {
		plain := bytes.Repeat([]byte{byte(size)}, size)
		known[sha256.Sum256(plain)] = true
		sealed := seal(f, plain, recipients)
		f.Add(sealed)
		f.Add(sealed[:len(sealed)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("{}"))
	f.Add([]byte("\x1f\x8b\x08\x00"))
	f.Add([]byte(agestream.Magic + "-> X25519 abc\n\n--- xyz\n"))
	all := []age.Identity{ids[0], ids[2]}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, sealed, err := openAll(t, data, all)
		if err != nil {
			if !errors.Is(err, agestream.ErrEncrypted) && !errors.Is(err, agestream.ErrDecrypt) {
				t.Fatalf("a failure without its sentinel: %v", err)
			}
			for _, s := range testIdentities {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error quotes an identity: %v", err)
				}
			}
			if strings.Contains(err.Error(), "->") || strings.Contains(err.Error(), "X25519 ") {
				t.Fatalf("the error quotes the header: %v", err)
			}
			return
		}
		switch {
		case !sealed && !bytes.Equal(got, data) && !(len(got) == 0 && len(data) == 0):
			t.Fatalf("a plain stream changed: %d bytes in, %d out", len(data), len(got))
		case sealed && !known[sha256.Sum256(got)]:
			t.Fatalf("an age file opened to %d bytes never sealed", len(got))
		case sealed != bytes.HasPrefix(data, []byte(agestream.Magic)):
			t.Fatalf("sealed = %t for a stream starting %q", sealed, data[:min(len(data), 22)])
		}
	})
}
