package agestream

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// sealRead is the plaintext read from src per Read of an encrypting reader.
const sealRead = 64 << 10

// EncryptReader returns a reader of the age file of src's bytes to
// recipients, sealed as they are read. Each Read makes at most one Read
// of src, so a caller that times the waits for src (a stall timer kicked
// before every Read) sees every one; it returns what ciphertext age has
// made so far, which may be none yet (age seals 64 KiB chunks). seen, if
// not nil, is given each piece of plaintext read from src, in order,
// before it is sealed; the slice is valid only during the call. An error
// of src ends the reader with that error as it is.
func EncryptReader(src io.Reader, seen func(plain []byte), recipients ...age.Recipient) (io.Reader, error) {
	s := &sealer{src: src, buf: make([]byte, sealRead), seen: seen}
	w, err := age.Encrypt(&s.out, recipients...) // writes the header into out
	if err != nil {
		return nil, fmt.Errorf("start age encryption: %w", err)
	}
	s.age = w
	return s, nil
}

// sealer is EncryptReader's reader.
type sealer struct {
	src  io.Reader
	age  io.WriteCloser
	out  bytes.Buffer // ciphertext not yet read
	buf  []byte
	seen func([]byte)
	done bool // src ended and age's last chunk is in out
	err  error
}

func (s *sealer) Read(p []byte) (int, error) {
	if s.out.Len() == 0 {
		if s.done {
			return 0, io.EOF
		}
		if s.err == nil {
			s.fill()
		}
		if s.out.Len() == 0 && s.err != nil {
			return 0, s.err
		}
	}
	n, _ := s.out.Read(p)
	return n, nil
}

// fill reads once from src and seals what came.
func (s *sealer) fill() {
	n, err := s.src.Read(s.buf)
	if n > 0 {
		if s.seen != nil {
			s.seen(s.buf[:n])
		}
		if _, werr := s.age.Write(s.buf[:n]); werr != nil {
			s.err = fmt.Errorf("age encryption: %w", werr)
			return
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		if cerr := s.age.Close(); cerr != nil {
			s.err = fmt.Errorf("age encryption: %w", cerr)
			return
		}
		s.done = true
	case err != nil:
		s.err = err // src's own error: the caller fails with it
	}
}
