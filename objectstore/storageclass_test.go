package objectstore_test

import (
	"context"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// storageClass on MinIO through Velero's host: the backup tarball carries
// the class whether it went up in one request or as a multipart upload;
// the metadata and the logs stay in the default class.
func TestStorageClassOnTarballOnly(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	s, _ := hostStore(t, srv, storeConfig(srv, bucket, "prefix", "cluster-a", "storageClass", "REDUCED_REDUNDANCY", "multipartPartSize", "5Mi"))
	objects := map[string][]byte{
		"cluster-a/backups/b1/b1.tar.gz":          gzipped(t, randomBytes(t, 64<<10)), // one request
		"cluster-a/backups/b2/b2.tar.gz":          gzipped(t, randomBytes(t, 12<<20)), // multipart
		"cluster-a/backups/b1/velero-backup.json": []byte(`{"kind":"Backup","metadata":{"name":"b1"}}`),
		"cluster-a/backups/b1/b1-logs.gz":         gzipped(t, []byte("level=info msg=done\n")),
	}
	for key, body := range objects {
		require.NoError(t, s.PutObject(bucket, key, stream(body)), key)
	}
	class := func(key string) string {
		info, err := srv.Client().StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
		require.NoError(t, err, key)
		return info.Metadata.Get("X-Amz-Storage-Class") // minio-go's StorageClass field is only set by listings
	}
	assert.Equal(t, "REDUCED_REDUNDANCY", class("cluster-a/backups/b1/b1.tar.gz"), "single put")
	assert.Equal(t, "REDUCED_REDUNDANCY", class("cluster-a/backups/b2/b2.tar.gz"), "multipart upload")
	for _, key := range []string{"cluster-a/backups/b1/velero-backup.json", "cluster-a/backups/b1/b1-logs.gz"} {
		assert.Contains(t, []string{"", "STANDARD"}, class(key), key)
	}
	assert.Equal(t, digest(objects["cluster-a/backups/b2/b2.tar.gz"]), digest(readAll(t, s, bucket, "cluster-a/backups/b2/b2.tar.gz")))
}

// An archive class is refused at Init, through the host, saying why.
func TestStorageClassRefusedAtInit(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	h := testenv.StartHost(t, testenv.PluginDir(t), 0)
	s, err := h.Manager.GetObjectStore("example.io/s3compat")
	require.NoError(t, err)
	cfg := storeConfig(srv, bucket, "storageClass", "GLACIER", "credentialsFile", srv.CredentialsFile(t))
	err = s.Init(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid value for "storageClass" in BSL config: "GLACIER" is an archive class`)
	assert.Contains(t, err.Error(), "a Velero restore would fail")
}
