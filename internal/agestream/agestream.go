// Package agestream encrypts and decrypts age files (age-encryption.org/v1,
// X25519 recipients) as streams: EncryptReader seals a body as it is read,
// Decrypt opens an age file as it is read and hands any other stream on as
// it is. It knows nothing of S3 or Velero; the caller decides which
// objects are encrypted.
//
// Writing uses age's library whole. Reading uses it for the header (the
// identities, the file key and the header's MAC) and reads the payload
// with a reader of its own that follows age's (payload.go).
package agestream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// Magic starts every binary age file.
const Magic = "age-encryption.org/v1\n"

// ErrEncrypted says a stream is an age file that the identities at hand
// (none, or the wrong ones) cannot open.
var ErrEncrypted = errors.New("the object is encrypted")

// ErrDecrypt says an age file failed its authentication: it is truncated,
// or a byte of it was altered. No plaintext of the failing chunk is given.
var ErrDecrypt = errors.New("age decryption failed")

// Decrypt reads the start of src. A stream that begins with age's header
// is decrypted with identities as it is read (sealed is true); any other
// is handed on as it is. The errors never quote the header, whose stanzas
// wrap the file key: an age file that no identity opens (or with no
// identity given) is ErrEncrypted, a damaged one ErrDecrypt, at Decrypt
// or at the Read that finds the damage; a failure of src itself is
// returned as it is, ahead of what age makes of it.
func Decrypt(src io.Reader, identities ...age.Identity) (plain io.Reader, sealed bool, err error) {
	head := make([]byte, len(Magic))
	n, err := io.ReadFull(src, head)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF): // shorter than the header
		return io.MultiReader(bytes.NewReader(head[:n]), src), false, nil
	case err != nil:
		return nil, false, err
	case string(head) != Magic:
		return io.MultiReader(bytes.NewReader(head), src), false, nil
	case len(identities) == 0:
		return nil, true, fmt.Errorf("%w with age, and no identity was given to read it", ErrEncrypted)
	}
	rec := &readErrors{r: src}
	br := bufio.NewReaderSize(rec, 4096)
	header, err := readHeader(head, br)
	if err != nil {
		if rec.err != nil {
			return nil, true, rec.err
		}
		return nil, true, fmt.Errorf("%w: the age header %s (the object was altered)", ErrDecrypt, err)
	}
	fileKey, err := age.DecryptHeader(header, identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, true, fmt.Errorf("%w with age to other recipients: none of the %d identities opens it", ErrEncrypted, len(identities))
		}
		return nil, true, fmt.Errorf("%w: the age header is malformed or fails its MAC (the object was altered)", ErrDecrypt)
	}
	p, err := newPayload(fileKey, br)
	if err != nil {
		if rec.err != nil {
			return nil, true, rec.err
		}
		return nil, true, fmt.Errorf("%w: the object ends inside its age header: it is truncated", ErrDecrypt)
	}
	return &unsealed{r: p, rec: rec}, true, nil
}

// MaxHeader bounds an age header: a line per recipient stanza and two
// of body; the plugin writes a few hundred bytes.
const MaxHeader = 64 << 10

// readHeader reads the rest of the age header that starts with head: up
// to and with its MAC line ("--- …"), which is the first line that starts
// so (the stanzas' bodies are base64, without '-' or ' ').
func readHeader(head []byte, src *bufio.Reader) ([]byte, error) {
	header := bytes.Clone(head)
	for {
		line, err := src.ReadSlice('\n')
		header = append(header, line...)
		switch {
		case len(header) > MaxHeader:
			return nil, fmt.Errorf("is longer than %d bytes", MaxHeader)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return nil, errors.New("is cut short")
		case bytes.HasPrefix(line, []byte("--- ")):
			return header, nil
		}
	}
}

// readErrors remembers the first read error of the ciphertext other than
// io.EOF: the source's own failure, which wins over what age makes of it.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// unsealed is the plaintext of an age file; it says where a failing one
// failed, counted in plaintext bytes.
type unsealed struct {
	r   io.Reader
	rec *readErrors
	off int64
	err error
}

func (u *unsealed) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	n, err := u.r.Read(p)
	u.off += int64(n)
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return n, err
	case u.rec.err != nil:
		u.err = u.rec.err
	case errors.Is(err, io.ErrUnexpectedEOF):
		u.err = fmt.Errorf("%w: the object ends before age's last chunk, after %d bytes of plaintext: it is truncated", ErrDecrypt, u.off)
	default:
		u.err = fmt.Errorf("%w: a chunk after %d bytes of plaintext fails its authentication: the object is truncated or was altered", ErrDecrypt, u.off)
	}
	return n, u.err
}
