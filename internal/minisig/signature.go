package minisig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"golang.org/x/crypto/blake2b"
)

// The errors of a check, for errors.Is.
var (
	// ErrUnsigned says an object has no signature. This package never
	// returns it: the caller, which finds none, does.
	ErrUnsigned = errors.New("no signature")
	// ErrBadSignature says the data does not match its signature, or the
	// signature itself is malformed or altered.
	ErrBadSignature = errors.New("the signature does not verify")
	// ErrWrongObject says a valid signature names another object (or is
	// not a signature of this plugin): it was moved or copied here.
	ErrWrongObject = errors.New("the signature is of another object")
	// ErrUnknownSigner says no accepted public key made the signature.
	ErrUnknownSigner = errors.New("the signature is by an unknown key")
)

const (
	sigLen        = 2 + 8 + ed25519.SignatureSize
	maxSignature  = 16 << 10 // a .minisig file; ours are a few hundred bytes
	untrustedHead = "untrusted comment: "
	trustedHead   = "trusted comment: "
)

// Digest hashes the data a signature covers (BLAKE2b-512, minisign -H)
// and counts its bytes. Write never fails.
type Digest struct {
	h    hash.Hash
	size int64
}

// NewDigest starts an empty digest.
func NewDigest() *Digest {
	h, _ := blake2b.New512(nil) // only a key longer than 64 bytes fails
	return &Digest{h: h}
}

func (d *Digest) Write(p []byte) (int, error) {
	d.size += int64(len(p))
	return d.h.Write(p)
}

// Size is the number of bytes written.
func (d *Digest) Size() int64 { return d.size }

func (d *Digest) sum() []byte { return d.h.Sum(nil) }

// Sign makes the .minisig file of what d has hashed: a prehashed
// signature whose trusted comment names objectKey, d's size and at.
func (k *SecretKey) Sign(d *Digest, objectKey string, at time.Time) []byte {
	c := Comment{Key: objectKey, Size: d.Size(), Time: at}
	s := Signature{
		KeyID:            k.id,
		UntrustedComment: "signature from velero-plugin-s3csi, minisign key " + k.id.String(),
		TrustedComment:   c.String(),
	}
	copy(s.sig[:], ed25519.Sign(k.key, d.sum()))
	copy(s.commentSig[:], ed25519.Sign(k.key, append(s.sig[:], s.TrustedComment...)))
	return s.Marshal()
}

// Signature is a parsed .minisig file of the prehashed kind.
type Signature struct {
	KeyID            KeyID
	UntrustedComment string // not signed: shown, never trusted
	TrustedComment   string // signed with the data: trust it after Verify
	sig              [ed25519.SignatureSize]byte
	commentSig       [ed25519.SignatureSize]byte
}

// Marshal is the .minisig file: four lines, as minisign writes them.
func (s *Signature) Marshal() []byte {
	raw := make([]byte, 0, sigLen)
	raw = append(append(append(raw, algHashed...), s.KeyID[:]...), s.sig[:]...)
	var b bytes.Buffer
	b.WriteString(untrustedHead + s.UntrustedComment + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	b.WriteString(trustedHead + s.TrustedComment + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(s.commentSig[:]) + "\n")
	return b.Bytes()
}

// ParseSignature reads a .minisig file strictly: four lines (the last
// newline optional), canonical base64, the prehashed algorithm only.
// Its errors wrap ErrBadSignature and never quote the input.
func ParseSignature(data []byte) (*Signature, error) {
	bad := func(why string) (*Signature, error) {
		return nil, fmt.Errorf("%w: the .minisig %s", ErrBadSignature, why)
	}
	if len(data) > maxSignature {
		return bad(fmt.Sprintf("is longer than %d bytes", maxSignature))
	}
	text := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(text, "\n")
	if len(lines) != 4 {
		return bad(fmt.Sprintf("has %d lines where a minisign signature has 4", len(lines)))
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\x00") {
			return bad("has a carriage return or NUL in a line")
		}
	}
	if !strings.HasPrefix(lines[0], untrustedHead) {
		return bad("does not start with \"untrusted comment: \"")
	}
	if !strings.HasPrefix(lines[2], trustedHead) {
		return bad("has no \"trusted comment: \" third line")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[1])
	if err != nil || len(raw) != sigLen {
		return bad("has a second line that is not a minisign signature")
	}
	switch string(raw[:2]) {
	case algHashed:
	case algEd:
		return bad("is a legacy signature of the whole data (minisign -l), not a prehashed one")
	default:
		return bad("names an unknown signature algorithm")
	}
	cs, err := base64.StdEncoding.Strict().DecodeString(lines[3])
	if err != nil || len(cs) != ed25519.SignatureSize {
		return bad("has a fourth line that is not a minisign comment signature")
	}
	s := &Signature{
		UntrustedComment: strings.TrimPrefix(lines[0], untrustedHead),
		TrustedComment:   strings.TrimPrefix(lines[2], trustedHead),
	}
	copy(s.KeyID[:], raw[2:10])
	copy(s.sig[:], raw[10:])
	copy(s.commentSig[:], cs)
	return s, nil
}

// Verify checks that s signs what d hashed, by a key of keys, and that
// its trusted comment names objectKey and d's size. It returns the
// comment, which is then authentic. Errors wrap ErrUnknownSigner,
// ErrBadSignature or ErrWrongObject.
func (s *Signature) Verify(d *Digest, keys Keys, objectKey string) (Comment, error) {
	k, ok := keys.find(s.KeyID)
	if !ok {
		return Comment{}, fmt.Errorf("%w: it was made by minisign key %s, and the keys accepted are %s", ErrUnknownSigner, s.KeyID, keys)
	}
	if !ed25519.Verify(k.key, d.sum(), s.sig[:]) {
		return Comment{}, fmt.Errorf("%w: the data is not what key %s signed (it was altered or replaced)", ErrBadSignature, s.KeyID)
	}
	if !ed25519.Verify(k.key, append(s.sig[:], s.TrustedComment...), s.commentSig[:]) {
		return Comment{}, fmt.Errorf("%w: its trusted comment was altered", ErrBadSignature)
	}
	c, err := ParseComment(s.TrustedComment)
	if err != nil {
		return Comment{}, fmt.Errorf("%w: key %s signed it, but not as velero-plugin-s3csi signs an object (its trusted comment %v)", ErrWrongObject, s.KeyID, err)
	}
	if c.Key != objectKey {
		return c, fmt.Errorf("%w: it signs %q (written %s), not %q: that object's data was copied here", ErrWrongObject, c.Key, c.Time.Format(time.RFC3339), objectKey)
	}
	if c.Size != d.Size() {
		return c, fmt.Errorf("%w: it signs %d bytes, and the object has %d", ErrBadSignature, c.Size, d.Size())
	}
	return c, nil
}
