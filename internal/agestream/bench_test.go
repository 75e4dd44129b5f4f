package agestream_test

import (
	"bytes"
	"io"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/agestream"
)

// The cost of the two directions on 8 MiB, and of Decrypt's payload
// reader beside age's own (which allocates a chunk buffer per 64 KiB):
//
//	go test -run '^$' -bench . -benchmem ./internal/agestream/
func BenchmarkStreams(b *testing.B) {
	ids, recipients := testKeys(b)
	plain := bytes.Repeat([]byte("apiVersion: v1\nkind: Secret\n"), 8<<20/28)
	sealed := seal(b, plain, recipients)
	buf := make([]byte, 256<<10) // what Velero's gRPC stream reads at a time
	drain := func(r io.Reader) {
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		require.NoError(b, err)
		require.Equal(b, int64(len(plain)), n)
	}
	b.Run("EncryptReader", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := agestream.EncryptReader(bytes.NewReader(plain), nil, recipients...)
			require.NoError(b, err)
			n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
			require.NoError(b, err)
			require.Equal(b, int64(len(sealed)), n)
		}
	})
	b.Run("Decrypt", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		for b.Loop() {
			r, _, err := agestream.Decrypt(bytes.NewReader(sealed), ids[0])
			require.NoError(b, err)
			drain(r)
		}
	})
	b.Run("age.Decrypt", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := age.Decrypt(bytes.NewReader(sealed), ids[0])
			require.NoError(b, err)
			drain(r)
		}
	})
}
