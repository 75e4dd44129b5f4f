package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sink keeps the size and sha256 of what an S3 client uploads: in one
// request, and in parts sent in parallel (so out of order), also with an
// aws-chunked body.
func TestSink(t *testing.T) {
	sink := StartSink(t)
	c, err := minio.New(strings.TrimPrefix(sink.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4("a", "b", ""), Region: "us-east-1"})
	require.NoError(t, err)
	data := make([]byte, 23<<20)
	_, _ = rand.Read(data)
	for _, tt := range []struct {
		key  string
		size int
		opts minio.PutObjectOptions
	}{
		{"single", 1 << 20, minio.PutObjectOptions{}},
		{"parts", len(data), minio.PutObjectOptions{PartSize: 5 << 20, NumThreads: 4}},
	} {
		_, err := c.PutObject(context.Background(), "bench", tt.key, bytes.NewReader(data[:tt.size]), int64(tt.size), tt.opts)
		require.NoError(t, err, tt.key)
		want := sha256.Sum256(data[:tt.size])
		got, ok := sink.Object("bench", tt.key)
		require.True(t, ok, tt.key)
		assert.Equal(t, SinkObject{Size: int64(tt.size), SHA256: hex.EncodeToString(want[:])}, got, tt.key)
	}

	body := "5;chunk-signature=x\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
	req, err := http.NewRequest(http.MethodPut, sink.URL+"/bench/chunked", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Encoding", "aws-chunked")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	want := sha256.Sum256([]byte("hello world"))
	got, _ := sink.Object("bench", "chunked")
	assert.Equal(t, SinkObject{Size: 11, SHA256: fmt.Sprintf("%x", want)}, got)
}
