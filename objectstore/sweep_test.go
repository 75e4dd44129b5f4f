package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// Uploads orphaned by a dead plugin process are aborted by a later
// multipart upload once older than staleUploadAge, in the BSL's folder
// only: a sibling prefix (another BSL in the same bucket) is not ours.
func TestStaleUploadsAreSwept(t *testing.T) {
	srv := startMinIO(t)
	tests := []struct {
		prefix  string
		orphan  string   // in the folder: aborted
		outside []string // kept
	}{
		{"cluster-a/", "cluster-a/backups/old/old.tar.gz", []string{"other-app/file"}},
		{"p", "p/backups/old/old.tar.gz", []string{"p2/backups/old/old.tar.gz", "p-other/x", "p"}},
	}
	for _, tt := range tests {
		t.Run("prefix "+tt.prefix, func(t *testing.T) {
			bucket := srv.MakeBucket(t)
			core := minio.Core{Client: srv.Client()}
			ctx := context.Background()
			orphan, err := core.NewMultipartUpload(ctx, bucket, tt.orphan, minio.PutObjectOptions{})
			require.NoError(t, err)
			outside := map[string]string{}
			for _, key := range tt.outside {
				id, err := core.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{})
				require.NoError(t, err)
				outside[id] = key
			}
			time.Sleep(2 * time.Second) // older than the 1s threshold below, by the server's clock

			s, logs := newStore(t, srv, storeConfig(srv, bucket, "prefix", tt.prefix, "staleUploadAge", "1s", "multipartPartSize", "5Mi"))
			newKey := folder(tt.prefix) + "backups/new/new.tar.gz"
			require.NoError(t, s.PutObject(bucket, newKey, stream(gzipped(t, randomBytes(t, 12<<20)))))
			left := map[string]bool{}
			for u := range srv.Client().ListIncompleteUploads(ctx, bucket, "", true) {
				require.NoError(t, u.Err)
				left[u.UploadID] = true
			}
			assert.False(t, left[orphan], "the stale upload in the folder is aborted")
			for id, key := range outside {
				assert.True(t, left[id], "%s is outside the BSL's folder %q: not ours", key, tt.prefix)
			}
			assertLogged(t, logs, "info", "aborted a stale multipart upload", "")
		})
	}
}

func folder(prefix string) string {
	if prefix == "" || prefix[len(prefix)-1] == '/' {
		return prefix
	}
	return prefix + "/"
}

// uploadsLeft is the upload IDs still in progress in bucket.
func uploadsLeft(t *testing.T, srv *testenv.S3Server, bucket string) map[string]bool {
	t.Helper()
	left := map[string]bool{}
	for u := range srv.Client().ListIncompleteUploads(context.Background(), bucket, "", true) {
		require.NoError(t, u.Err)
		left[u.UploadID] = true
	}
	return left
}

// startUploads starts a multipart upload of each key, as a plugin killed
// mid-upload leaves it, and returns their IDs by key.
func startUploads(t *testing.T, srv *testenv.S3Server, bucket string, keys ...string) map[string]string {
	t.Helper()
	core := minio.Core{Client: srv.Client()}
	ids := map[string]string{}
	for _, key := range keys {
		id, err := core.NewMultipartUpload(context.Background(), bucket, key, minio.PutObjectOptions{})
		require.NoError(t, err)
		ids[key] = id
	}
	return ids
}

// Velero's availability check (ListCommonPrefixes of the BSL's root,
// about every minute, in a plugin process of its own) sweeps stale
// uploads in the BSL's folder the first time in a process: an old orphan
// goes, a young one and those outside the folder stay, and a second list
// in the same process sweeps no more.
func TestStaleSweepAtFirstList(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	old := startUploads(t, srv, bucket, "cluster-a/backups/killed/killed.tar.gz", "cluster-ab/backups/x/x.tar.gz", "other/y")
	time.Sleep(2 * time.Second) // older than staleUploadAge below, by the server's clock
	young := startUploads(t, srv, bucket, "cluster-a/backups/running/running.tar.gz")
	s, logs := newStore(t, srv, storeConfig(srv, bucket, "prefix", "cluster-a", "staleUploadAge", "1500ms"))

	_, err := s.ListCommonPrefixes(bucket, "cluster-a/", "/")
	require.NoError(t, err)
	left := uploadsLeft(t, srv, bucket)
	assert.False(t, left[old["cluster-a/backups/killed/killed.tar.gz"]], "the stale upload in the folder is aborted by the first list")
	assert.True(t, left[old["cluster-ab/backups/x/x.tar.gz"]], "cluster-ab/ is another BSL's folder")
	assert.True(t, left[old["other/y"]], "outside the BSL's folder")
	assert.True(t, left[young["cluster-a/backups/running/running.tar.gz"]], "younger than staleUploadAge: may still be running")
	assertLogged(t, logs, "info", "aborted a stale multipart upload", "")

	time.Sleep(2 * time.Second) // the young one is stale now, but this process swept already
	_, err = s.ListCommonPrefixes(bucket, "cluster-a/", "/")
	require.NoError(t, err)
	assert.True(t, uploadsLeft(t, srv, bucket)[young["cluster-a/backups/running/running.tar.gz"]], "at most one sweep per process")
}

// Velero deletes a backup's objects only once it is no longer in
// progress: the first DeleteObject in backups/<name>/ aborts every
// incomplete upload in that folder, however young, and none in a backup
// whose name merely starts the same or in another BSL's folder.
func TestBackupDeletionAbortsItsUploads(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	tests := []struct{ prefix, mine string }{
		{"", "backups/b1/b1.tar.gz"},
		{"p", "p/backups/b1/b1.tar.gz"},
	}
	for _, tt := range tests {
		t.Run("prefix "+tt.prefix, func(t *testing.T) {
			dir := folder(tt.prefix)
			ids := startUploads(t, srv, bucket, tt.mine, dir+"backups/b1/b1-logs.gz", dir+"backups/b10/b10.tar.gz", "q/backups/b1/b1.tar.gz", dir+"restores/b1/x.gz")
			s, logs := newStore(t, srv, storeConfig(srv, bucket, "prefix", tt.prefix)) // staleUploadAge 72h: only the deletion sweeps
			require.NoError(t, s.PutObject(bucket, dir+"backups/b1/velero-backup.json", stream([]byte(`{"kind":"Backup"}`))))
			assert.True(t, uploadsLeft(t, srv, bucket)[ids[tt.mine]], "a put sweeps nothing young")

			keys, err := s.ListObjects(bucket, dir+"backups/b1/")
			require.NoError(t, err)
			require.Equal(t, []string{dir + "backups/b1/velero-backup.json"}, keys)
			require.NoError(t, s.DeleteObject(bucket, keys[0]))
			left := uploadsLeft(t, srv, bucket)
			assert.False(t, left[ids[tt.mine]], "the deleted backup's upload is aborted")
			assert.False(t, left[ids[dir+"backups/b1/b1-logs.gz"]], "the deleted backup's upload is aborted")
			assert.True(t, left[ids[dir+"backups/b10/b10.tar.gz"]], "backup b10 is not b1")
			assert.True(t, left[ids["q/backups/b1/b1.tar.gz"]], "another BSL's folder")
			assert.True(t, left[ids[dir+"restores/b1/x.gz"]], "not a backup's folder")
			assertLogged(t, logs, "info", "aborted an incomplete multipart upload in the folder of a backup being deleted", "")
		})
	}
}
