package minisig_test

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"example.io/velero-plugin-s3csi/internal/minisig"
)

// A fixed key (a test key: its seed is all 7s) and one genuine signature.
func fuzzKey(t testing.TB) (*minisig.SecretKey, minisig.Keys) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	raw := make([]byte, 0, 158)
	raw = append(raw, "Ed\x00\x00B2"...)
	raw = append(raw, make([]byte, 48)...)    // salt, opslimit, memlimit
	raw = append(raw, 1, 2, 3, 4, 5, 6, 7, 8) // key ID
	raw = append(raw, priv...)                // seed and public half
	raw = append(raw, make([]byte, 32)...)    // checksum, zero as minisign -W leaves it
	sk, err := minisig.ParseSecretKey([]byte(b64(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return sk, minisig.Keys{sk.Public()}
}

// FuzzParseSignature: a .minisig parses or is refused, never panics; one
// that parses marshals back to what parses the same; and one that
// verifies is the genuine signature (only its untrusted comment may
// differ): no altered signature is ever accepted.
func FuzzParseSignature(f *testing.F) {
	sk, keys := fuzzKey(f)
	data := []byte("the backup contents")
	d := minisig.NewDigest()
	d.Write(data)
	genuine := sk.Sign(d, "backups/b1/b1.tar.gz", at)
	f.Add(genuine)
	f.Add(sk.Sign(d, "backups/b2/b2.tar.gz", at))
	f.Add([]byte(strings.Replace(string(genuine), "\n", "\r\n", -1)))
	f.Add(genuine[:len(genuine)-1])
	f.Add([]byte("untrusted comment: \nRUQ=\ntrusted comment: \n\n"))
	want, _ := minisig.ParseSignature(genuine)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := minisig.ParseSignature(in)
		if err != nil {
			if s != nil {
				t.Fatal("a signature with an error")
			}
			return
		}
		again, err := minisig.ParseSignature(s.Marshal())
		if err != nil || !bytes.Equal(again.Marshal(), s.Marshal()) {
			t.Fatalf("does not round-trip: %v", err)
		}
		d := minisig.NewDigest()
		d.Write(data)
		c, err := s.Verify(d, keys, "backups/b1/b1.tar.gz")
		if err != nil {
			return
		}
		s.UntrustedComment = want.UntrustedComment
		if !bytes.Equal(s.Marshal(), want.Marshal()) {
			t.Fatalf("accepted a signature that is not the genuine one:\n%s", in)
		}
		if c.Key != "backups/b1/b1.tar.gz" || c.Size != int64(len(data)) {
			t.Fatalf("accepted with comment %+v", c)
		}
	})
}

// FuzzParseComment: a trusted comment parses or is refused, never panics,
// and one that parses is exactly what String writes for it.
func FuzzParseComment(f *testing.F) {
	f.Add("s3csi-v1 key=backups/b1/b1.tar.gz size=123 time=2026-12-06T21:30:00Z")
	f.Add("s3csi-v1 key=a%20b%25 size=0 time=2026-12-06T21:30:00Z")
	f.Add("timestamp:1765056600\tfile:b1.tar.gz\thashed")
	f.Add("s3csi-v1 key=%zz size=1 time=x")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := minisig.ParseComment(in)
		if err != nil {
			return
		}
		if c.String() != in {
			t.Fatalf("%q parses to %+v, which prints as %q", in, c, c.String())
		}
		if c.Key == "" || c.Size < 0 {
			t.Fatalf("%q parses to %+v", in, c)
		}
	})
}
