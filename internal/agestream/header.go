package agestream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"filippo.io/age"
)

// Header is an age file's header, for a look at it without reading the
// payload: what recipients it was written to, and whether an identity
// opens it.
type Header struct {
	Raw     []byte   // as written, from Magic through the MAC line
	Stanzas []string // each recipient stanza's type in order: X25519, scrypt, …
}

// PeekHeader reads the age header at the start of br without consuming
// it: nil for a stream that is not an age file. br must buffer
// MaxHeader bytes (bufio.NewReaderSize(r, agestream.MaxHeader)); a header
// longer than that is an error, as are one cut short and one without a
// recipient stanza, none of which age writes. The errors never quote the
// header.
func PeekHeader(br *bufio.Reader) (*Header, error) {
	data, err := br.Peek(MaxHeader)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(Magic)) {
		return nil, nil
	}
	end := bytes.Index(data, []byte("\n--- "))
	if end < 0 {
		return nil, errors.New("the age header is cut short or longer than 64 KiB")
	}
	nl := bytes.IndexByte(data[end+1:], '\n')
	if nl < 0 {
		return nil, errors.New("the age header's MAC line is cut short")
	}
	h := &Header{Raw: bytes.Clone(data[:end+1+nl+1])}
	var stanzas []byte // none when the MAC line follows Magic's own newline
	if end > len(Magic) {
		stanzas = data[len(Magic):end]
	}
	for _, line := range strings.Split(string(stanzas), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			typ, _, _ := strings.Cut(rest, " ")
			h.Stanzas = append(h.Stanzas, typ)
		}
	}
	if len(h.Stanzas) == 0 {
		return nil, errors.New("the age header has no recipient stanza")
	}
	return h, nil
}

// Opens reports whether id opens the header's file key, the header's MAC
// checked.
func (h *Header) Opens(id age.Identity) bool {
	_, err := age.DecryptHeader(h.Raw, id)
	return err == nil
}
