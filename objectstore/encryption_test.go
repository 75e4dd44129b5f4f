package objectstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

func TestTLS(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{TLS: true})
	bucket := srv.MakeBucket(t)
	otherCA := testenv.WriteSelfSignedCert(t, t.TempDir(), "c.pem", "k.pem")
	tests := []struct {
		name  string
		extra []string
		ok    bool
	}{
		{"caCert trusts the server", []string{"caCert", string(srv.CAPEM)}, true},
		{"no caCert: unknown authority", nil, false},
		{"another CA: unknown authority", []string{"caCert", string(otherCA)}, false},
		{"insecureSkipTLSVerify", []string{"insecureSkipTLSVerify", "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, srv, storeConfig(srv, bucket, tt.extra...))
			err := s.PutObject(bucket, "tls", stream([]byte("over tls")))
			if !tt.ok {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "certificate")
				assert.NotContains(t, err.Error(), "exceeded maximum number of attempts", "a certificate error is not retried")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []byte("over tls"), readAll(t, s, bucket, "tls"))
		})
	}

	t.Run("SSE-C", func(t *testing.T) {
		key := []byte("0123456789abcdef0123456789abcdef")
		keyFile := filepath.Join(t.TempDir(), "sse-c.key")
		require.NoError(t, os.WriteFile(keyFile, key, 0o600))
		s, logs := newStore(t, srv, storeConfig(srv, bucket, "caCert", string(srv.CAPEM), "customerKeyEncryptionFile", keyFile, "multipartPartSize", "5Mi"))
		small, big := randomBytes(t, 4096), randomBytes(t, 12<<20)
		require.NoError(t, s.PutObject(bucket, "ssec-small", stream(small)))
		require.NoError(t, s.PutObject(bucket, "ssec-big", stream(big)))
		assert.Equal(t, small, readAll(t, s, bucket, "ssec-small"))
		assert.Equal(t, digest(big), digest(readAll(t, s, bucket, "ssec-big")))
		ok, err := s.ObjectExists(bucket, "ssec-big")
		require.NoError(t, err)
		assert.True(t, ok)
		// Without the key the independent client cannot read it.
		_, err = srv.Client().StatObject(context.Background(), bucket, "ssec-small", minio.StatObjectOptions{})
		require.Error(t, err)
		sse, err := encrypt.NewSSEC(key)
		require.NoError(t, err)
		_, err = srv.Client().StatObject(context.Background(), bucket, "ssec-small", minio.StatObjectOptions{ServerSideEncryption: sse})
		require.NoError(t, err)
		assert.NotContains(t, logs.Text(), string(key))
	})

	t.Run("SSE-C key from a Secret, as velero-plugin-for-aws takes it", func(t *testing.T) {
		key := "fedcba9876543210fedcba9876543210"
		k := testenv.StartKubeAPI(t)
		t.Setenv("KUBECONFIG", k.Kubeconfig)
		t.Setenv("VELERO_NAMESPACE", "velero")
		k.PutSecret("velero", "sse-c", map[string]string{"key": key})
		s, logs := newStore(t, srv, storeConfig(srv, bucket, "caCert", string(srv.CAPEM), "customerKeyEncryptionSecret", "sse-c/key"))
		require.NoError(t, s.PutObject(bucket, "ssec-secret", stream([]byte("sealed"))))
		assert.Equal(t, []byte("sealed"), readAll(t, s, bucket, "ssec-secret"))
		sse, err := encrypt.NewSSEC([]byte(key))
		require.NoError(t, err)
		_, err = srv.Client().StatObject(context.Background(), bucket, "ssec-secret", minio.StatObjectOptions{ServerSideEncryption: sse})
		require.NoError(t, err, "encrypted with the Secret's key")
		assert.NotContains(t, logs.Text(), key)
	})
}

func TestServerSideEncryptionAndTags(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	tests := []struct {
		name, want string
		extra      []string
	}{
		{"AES256", "AES256", []string{"serverSideEncryption", "AES256"}},
		{"aws:kms with key", "aws:kms", []string{"kmsKeyId", testenv.KMSKeyID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, srv, storeConfig(srv, bucket, append(tt.extra, "multipartPartSize", "5Mi", "tagging", "team=backup&tier=gold")...))
			for key, size := range map[string]int{tt.name + "-small": 1000, tt.name + "-big": 11 << 20} {
				data := randomBytes(t, size)
				require.NoError(t, s.PutObject(bucket, key, stream(data)))
				info, err := srv.Client().StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
				require.NoError(t, err)
				assert.Equal(t, tt.want, info.Metadata.Get("X-Amz-Server-Side-Encryption"), key)
				tags, err := srv.Client().GetObjectTagging(context.Background(), bucket, key, minio.GetObjectTaggingOptions{})
				require.NoError(t, err)
				assert.Equal(t, map[string]string{"team": "backup", "tier": "gold"}, tags.ToMap(), key)
				assert.Equal(t, digest(data), digest(readAll(t, s, bucket, key)))
			}
		})
	}
}
