package objectstore

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"example.io/velero-plugin-s3csi/config"
)

// Parts grow so that an object of unknown size up to 5 TiB fits in S3's
// 10,000 parts, from any allowed first part size.
func TestPartSizeFitsFiveTiB(t *testing.T) {
	for _, base := range []int64{config.MinPartSize, 8 << 20, 16 << 20, 100 << 20, config.MaxPartSize} {
		var total int64
		for n := 1; n <= config.MaxParts; n++ {
			size := partSize(base, n)
			assert.GreaterOrEqual(t, size, int64(config.MinPartSize))
			assert.LessOrEqual(t, size, int64(config.MaxPartSize))
			if n > 1 {
				assert.GreaterOrEqual(t, size, partSize(base, n-1), "sizes never shrink")
			}
			total += size
		}
		assert.GreaterOrEqual(t, total, int64(5<<40), "base %d holds %d bytes", base, total)
		assert.Equal(t, base, partSize(base, partTier), "the first %d parts keep the configured size", partTier)
	}
}
