package objectstore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/objectstore"
)

// TestReadOnlyViews: verify's views of a location read what S3 stores
// (the age file as stored, opened only by Open), HEAD an object's
// retention, and say a missing key with ErrNotFound.
func TestReadOnlyViews(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	bucket := srv.MakeLockedBucket(t, "", 0)
	k := testenv.NewAgeKey(t)
	s, _ := newStore(t, srv, storeConfig(srv, bucket, "encryptionRecipients", k.Recipient, "encryptionIdentityFile", k.File,
		"objectLockMode", "COMPLIANCE", "objectLockRetention", "1h"))
	key := "backups/b1/b1.tar.gz"
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(bytes.Repeat([]byte("velero "), 20000))
	require.NoError(t, w.Close())
	body := gz.Bytes() // Velero's tarball is gzip, which the store checks
	require.NoError(t, s.PutObject(bucket, key, bytes.NewReader(body)))

	rc, err := s.GetStored(context.Background(), bucket, key)
	require.NoError(t, err)
	stored, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	o, err := srv.Client().GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	want, err := io.ReadAll(o)
	require.NoError(t, err)
	assert.Equal(t, want, stored, "the bytes S3 stores")
	assert.True(t, bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")))

	plain, sealed, err := s.Open(bytes.NewReader(stored))
	require.NoError(t, err)
	assert.True(t, sealed)
	got, err := io.ReadAll(plain)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	info, err := s.Stat(context.Background(), bucket, key)
	require.NoError(t, err)
	assert.Equal(t, int64(len(stored)), info.Size)
	assert.Equal(t, "COMPLIANCE", info.LockMode)
	assert.False(t, info.RetainUntil.IsZero())
	assert.NotEmpty(t, info.VersionID)

	_, err = s.Stat(context.Background(), bucket, "backups/b1/nothing")
	assert.ErrorIs(t, err, objectstore.ErrNotFound)
	_, err = s.GetStored(context.Background(), bucket, "backups/b1/nothing")
	assert.ErrorIs(t, err, objectstore.ErrNotFound)

	c := s.Settings()
	assert.Equal(t, bucket, c.Bucket)
	c.Bucket = "changed"
	assert.Equal(t, bucket, s.Settings().Bucket, "a copy")
}
