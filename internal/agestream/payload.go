package agestream

import (
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// The payload of an age file (age-encryption.org/v1, the STREAM
// construction): a 16-byte nonce, then chunks of 64 KiB of plaintext
// sealed with ChaCha20-Poly1305 under a key derived from the file key,
// each nonce an 11-byte big-endian counter and a last-chunk flag. age's
// library writes it (EncryptReader) and opens the header
// (age.DecryptHeader); payload reads the chunks the way the library's
// reader does, but into two buffers it keeps: the library's allocates
// 64 KiB per chunk, which cost a download a third of its speed and 19 MiB
// of RSS (make bench). The tests hold it to the library on every size,
// cut and flipped byte.
const (
	payloadNonce = 16
	plainChunk   = 64 << 10
	sealedChunk  = plainChunk + chacha20poly1305.Overhead
)

type payload struct {
	src   io.Reader
	aead  cipher.AEAD
	nonce [chacha20poly1305.NonceSize]byte
	in    []byte // one sealed chunk
	out   []byte // its plaintext
	plain []byte // what of out is not yet read
	done  bool   // the last chunk was opened and nothing follows it
	err   error
}

// errChunk is a chunk that fails its authentication.
var errChunk = errors.New("chunk authentication failed")

func newPayload(fileKey []byte, src io.Reader) (*payload, error) {
	nonce := make([]byte, payloadNonce)
	if _, err := io.ReadFull(src, nonce); err != nil {
		return nil, err
	}
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, fileKey, nonce, []byte("payload")), key); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	return &payload{src: src, aead: aead, in: make([]byte, sealedChunk), out: make([]byte, 0, plainChunk)}, nil
}

func (p *payload) Read(b []byte) (int, error) {
	for len(p.plain) == 0 {
		switch {
		case p.err != nil:
			return 0, p.err
		case p.done:
			return 0, io.EOF
		}
		p.err = p.next()
	}
	n := copy(b, p.plain)
	p.plain = p.plain[n:]
	return n, nil
}

// next opens the next chunk. A short chunk is the last; a full one is
// the last when it opens only with the last-chunk flag, and then nothing
// may follow it. No chunk at all where one is due is a cut object.
func (p *payload) next() error {
	first := p.nonce == [chacha20poly1305.NonceSize]byte{}
	n, err := io.ReadFull(p.src, p.in)
	last := false
	switch {
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		if n == chacha20poly1305.Overhead && !first {
			return errChunk // an empty last chunk is only the empty file's
		}
		last = true
	case err != nil:
		return err
	}
	if last {
		p.nonce[len(p.nonce)-1] = 1
	}
	out, err := p.aead.Open(p.out[:0], p.nonce[:], p.in[:n], nil)
	if err != nil && !last {
		last = true
		p.nonce[len(p.nonce)-1] = 1
		out, err = p.aead.Open(p.out[:0], p.nonce[:], p.in[:n], nil)
	}
	if err != nil {
		return errChunk
	}
	for i := len(p.nonce) - 2; i >= 0; i-- { // the counter; 88 bits never wrap
		p.nonce[i]++
		if p.nonce[i] != 0 {
			break
		}
	}
	p.plain = out
	if last {
		var one [1]byte
		switch _, err := io.ReadFull(p.src, one[:]); {
		case err == nil:
			return errors.New("data after the last chunk")
		case !errors.Is(err, io.EOF):
			return err
		}
		p.done = true
	}
	return nil
}
