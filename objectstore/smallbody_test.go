package objectstore_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/objectstore"
)

// A body smaller than half a part (rounded down to a power of two times
// 32 KiB) is held in a small buffer of at most
// twice its size and takes nothing from memoryBudget; a larger one moves
// into a part from the budget with its first bytes, and a body of many
// parts is whole. Each is stored exactly, with the body check, the
// checksum and (for the encrypted store) age on the way.
func TestSmallBodyTakesNoPart(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	age := testenv.NewAgeKey(t)
	stores := map[string]map[string]string{
		"plain, MD5":   storeConfig(srv, bucket),
		"CRC64NVME":    storeConfig(srv, bucket, "checksumAlgorithm", "CRC64NVME"),
		"age, all .gz": storeConfig(srv, bucket, "encryptionRecipients", age.Recipient, "encryptionIdentityFile", age.File, "encryptionScope", "allGzip"),
		"parts of 5Mi": storeConfig(srv, bucket, "multipartPartSize", "5Mi"),
	}
	bodies := []struct {
		key  string
		body []byte
	}{
		{"backups/s/empty", nil},
		{"backups/s/velero-backup.json", jsonOf(t, bytes.Repeat([]byte("b"), 1500))},
		{"backups/s/s-logs.gz", gzipped(t, bytes.Repeat([]byte("level=info msg=item\n"), 5000))},
		{"backups/s/s.tar.gz", gzipped(t, randomBytes(t, 100<<10))},
		{"backups/s/s-results.gz", gzipped(t, randomBytes(t, 32<<10-40))}, // about one first buffer
		{"backups/m/m.tar.gz", gzipped(t, randomBytes(t, 3<<20))},
		{"backups/p/p.tar.gz", gzipped(t, randomBytes(t, 6<<20))},    // over half a part
		{"backups/mp/mp.tar.gz", gzipped(t, randomBytes(t, 21<<20))}, // parts
	}
	for name, cfg := range stores {
		s, _ := newStore(t, srv, cfg)
		for _, b := range bodies {
			t.Run(fmt.Sprintf("%s %s %d bytes", name, b.key, len(b.body)), func(t *testing.T) {
				// The last subtest's download gives its read-ahead back, and drops
				// what it kept, once its goroutine sees the Close.
				require.Eventually(t, func() bool { return objectstore.BudgetKept() == 0 }, 10*time.Second, 10*time.Millisecond)
				objectstore.ResetBudgetPeak()
				require.NoError(t, s.PutObject(bucket, b.key, stream(b.body)))
				putPeak, smallPeak := objectstore.BudgetPeak(), objectstore.SmallBufferPeak()
				assert.Zero(t, objectstore.SmallBufferHeld(), "every small buffer is given back")
				assert.Zero(t, objectstore.BudgetHeld(), "every part is given back")
				assert.Equal(t, digest(b.body), digest(readAll(t, s, bucket, b.key)))
				limit := 4 << 20 // the largest small buffer: a power of two times 32 KiB, at most half a part
				if cfg["multipartPartSize"] == "5Mi" {
					limit = 2 << 20
				}
				if len(b.body) < limit-1024 { // age adds a little
					assert.Zero(t, putPeak, "a small body takes no part from memoryBudget")
					assert.LessOrEqual(t, smallPeak, max(int64(64<<10), 2*int64(len(b.body))+64<<10),
						"a small body's buffer is at most about twice its size")
				} else {
					assert.NotZero(t, putPeak, "a body of half a part or more is in parts")
				}
			})
		}
	}
}
