package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
