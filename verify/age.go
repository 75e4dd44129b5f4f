package verify

import (
	"bufio"
	"fmt"
	"strings"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/agestream"
)

// ageFile is an age file's header (agestream.PeekHeader), or why it is
// not one age writes.
type ageFile struct {
	*agestream.Header
	bad error // a header that age would refuse; Header is nil
}

// peekAge reads the age header at the start of br (which buffers
// agestream.MaxHeader) without consuming it: nil for an object that is
// not an age file.
func peekAge(br *bufio.Reader) (*ageFile, error) {
	h, err := agestream.PeekHeader(br)
	if err != nil || h == nil {
		return nil, err
	}
	return &ageFile{Header: h}, nil
}

// describe says what the header holds.
func (f *ageFile) describe() string {
	n := map[string]int{}
	var order []string
	for _, s := range f.Stanzas {
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
		if f.Opens(id) {
			return id.Recipient().String()
		}
	}
	return ""
}
