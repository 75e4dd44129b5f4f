package agestream_test

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/agestream"
)

// PeekHeader reads the header of what EncryptReader writes without
// consuming a byte, with its stanzas' types; a stream that is not an
// age file is nil; headers age never writes are errors; Opens tells the
// identities of the recipients from another.
func TestPeekHeader(t *testing.T) {
	ids, recipients := testKeys(t)
	scrypt, err := age.NewScryptRecipient("not a secret")
	require.NoError(t, err)
	scrypt.SetWorkFactor(10)
	sealed := seal(t, make([]byte, 100<<10), recipients)
	headerEnd := bytes.Index(sealed, []byte("\n--- ")) + 1
	headerEnd += bytes.IndexByte(sealed[headerEnd:], '\n') + 1

	br := bufio.NewReaderSize(bytes.NewReader(sealed), agestream.MaxHeader)
	h, err := agestream.PeekHeader(br)
	require.NoError(t, err)
	require.NotNil(t, h)
	assert.Equal(t, sealed[:headerEnd], h.Raw)
	assert.Equal(t, []string{"X25519", "X25519"}, h.Stanzas)
	assert.True(t, h.Opens(ids[0]))
	assert.True(t, h.Opens(ids[1]))
	assert.False(t, h.Opens(ids[2]), "an identity of another recipient")
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, sealed, rest, "nothing consumed")

	bad := bytes.Clone(sealed)
	bad[headerEnd-5] ^= 0x01 // in the MAC
	h, err = agestream.PeekHeader(bufio.NewReaderSize(bytes.NewReader(bad), agestream.MaxHeader))
	require.NoError(t, err)
	assert.False(t, h.Opens(ids[0]), "a header that fails its MAC")

	byPassphrase := seal(t, []byte("x"), []age.Recipient{scrypt})
	h, err = agestream.PeekHeader(bufio.NewReaderSize(bytes.NewReader(byPassphrase), agestream.MaxHeader))
	require.NoError(t, err)
	assert.Equal(t, []string{"scrypt"}, h.Stanzas)

	for name, c := range map[string]struct {
		data []byte
		err  string
	}{
		"plain":         {[]byte(`{"kind":"Backup"}`), ""},
		"empty":         {nil, ""},
		"cut in header": {sealed[:headerEnd-60], "the age header is cut short or longer than 64 KiB"},
		"cut in MAC":    {sealed[:headerEnd-1], "the age header's MAC line is cut short"},
		"no stanza":     {[]byte(agestream.Magic + "--- abc\n"), "the age header has no recipient stanza"},
		"too long":      {append([]byte(agestream.Magic+"-> X25519 "), bytes.Repeat([]byte("A"), agestream.MaxHeader)...), "the age header is cut short or longer than 64 KiB"},
	} {
		h, err := agestream.PeekHeader(bufio.NewReaderSize(bytes.NewReader(c.data), agestream.MaxHeader))
		assert.Nil(t, h, name)
		if c.err == "" {
			assert.NoError(t, err, name)
		} else {
			assert.EqualError(t, err, c.err, name)
		}
	}
}

// FuzzPeekHeader feeds the look at a header (verify's, on objects anyone
// may have written) anything. Beyond "no panic": a stream without age's
// header is nil; a header found is a prefix of the stream that ends with
// its MAC line and has a stanza; nothing is consumed; no error quotes
// the header.
//
//	go test -run '^$' -fuzz '^FuzzPeekHeader$' -fuzztime 60s ./internal/agestream/
func FuzzPeekHeader(f *testing.F) {
	_, recipients := testKeys(f)
	sealed := seal(f, []byte("velero"), recipients)
	f.Add(sealed)
	f.Add(sealed[:len(sealed)/2])
	f.Add([]byte(agestream.Magic + "--- abc\n"))
	f.Add([]byte(agestream.Magic + "\n--- abc\n"))
	f.Add([]byte(agestream.Magic + "-> X25519\n--- "))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), agestream.MaxHeader)
		h, err := agestream.PeekHeader(br)
		switch {
		case err != nil:
			if h != nil {
				t.Fatalf("a header and an error: %v", err)
			}
			if strings.Contains(err.Error(), "->") || strings.Contains(err.Error(), "X25519 ") {
				t.Fatalf("the error quotes the header: %v", err)
			}
		case !bytes.HasPrefix(data, []byte(agestream.Magic)):
			if h != nil {
				t.Fatalf("a header in a stream that does not start with age's")
			}
		case h == nil:
			t.Fatalf("no header and no error for a stream that starts with age's")
		case !bytes.HasPrefix(data, h.Raw) || !bytes.HasSuffix(h.Raw, []byte("\n")) || len(h.Stanzas) == 0:
			t.Fatalf("header of %d bytes, %d stanzas, not a prefix ending a line", len(h.Raw), len(h.Stanzas))
		}
		rest, _ := io.ReadAll(br)
		if !bytes.Equal(rest, data) && !(len(rest) == 0 && len(data) == 0) {
			t.Fatalf("PeekHeader consumed the stream")
		}
	})
}
