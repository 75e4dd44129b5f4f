package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"example.io/velero-plugin-s3csi/config"
)

// ageMagic starts every binary age file (age-encryption.org/v1).
const ageMagic = "age-encryption.org/v1\n"

// maxAgeHeader bounds the header verify reads: the plugin writes a few
// hundred bytes (a stanza per recipient).
const maxAgeHeader = 64 << 10

// ageFile is an age file's header: its stanzas by type, as written.
type ageFile struct {
	header  []byte
	stanzas []string // each stanza's type: X25519, scrypt, …
	bad     error    // a header that age would refuse
}

// peekAge reads the age header at the start of br without consuming it:
// nil for an object that is not an age file.
func peekAge(br *bufio.Reader) (*ageFile, error) {
	data, err := br.Peek(maxAgeHeader)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(ageMagic)) {
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
	f := &ageFile{header: bytes.Clone(data[:end+1+nl+1])}
	for _, line := range strings.Split(string(data[len(ageMagic):end]), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			typ, _, _ := strings.Cut(rest, " ")
			f.stanzas = append(f.stanzas, typ)
		}
	}
	if len(f.stanzas) == 0 {
		return nil, errors.New("the age header has no recipient stanza")
	}
	return f, nil
}

// describe says what the header holds.
func (f *ageFile) describe() string {
	n := map[string]int{}
	var order []string
	for _, s := range f.stanzas {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	var parts []string
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
	}
	return "age header with " + strings.Join(parts, ", ") + " recipient stanzas"
}

// openedBy is the public key of the first identity whose stanza opens
// the header's file key (its MAC checked), "" when none does.
func (f *ageFile) openedBy(ids config.Identities) string {
	for _, id := range ids {
		if _, err := age.DecryptHeader(f.header, id); err == nil {
			return id.Recipient().String()
		}
	}
	return ""
}
