package objectstore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

type plannedPart struct {
	size  int64
	spool bool
}

// planFor is the plan of a stream of streamSize bytes: the planned parts,
// the last one cut to what is left.
func planFor(streamSize, base, budget int64) []plannedPart {
	var parts []plannedPart
	for left, n := streamSize, 1; left > 0; n++ {
		size, spool := planPart(base, n, budget)
		parts = append(parts, plannedPart{size: min(size, left), spool: spool})
		left -= size
	}
	return parts
}

// For every stream size up to 5 TiB and every budget the plan fits in
// 10,000 parts of 5 MiB to 5 GiB (the last may be smaller), and a part
// is held in memory only when it fits in the budget: the rest spool.
func TestPartPlan(t *testing.T) {
	var sizes []int64 // each tier's first and last byte, and round sizes
	for _, base := range []int64{config.MinPartSize, 8 << 20} {
		var cum int64
		for n := 1; n <= config.MaxParts; n++ {
			if n%partTier == 1 {
				sizes = append(sizes, cum, cum+1)
			}
			cum += partSize(base, n)
		}
	}
	sizes = append(sizes, 1, 5<<20-1, 5<<20, 1<<30, 8<<30, 64<<30, 100<<30, 1<<40, 5<<40)
	for _, budget := range []int64{config.MinMemoryBudget, 16 << 20, 32 << 20, config.DefaultMemoryBudget, 1 << 30, 8 << 30} {
		for _, base := range []int64{config.MinPartSize, 8 << 20, 16 << 20, 100 << 20, config.MaxPartSize} {
			t.Run(fmt.Sprintf("budget %s, first parts %s", config.ShowSize(budget), config.ShowSize(base)), func(t *testing.T) {
				for _, stream := range sizes {
					if stream > 5<<40 {
						continue
					}
					plan := planFor(stream, base, budget)
					require.LessOrEqual(t, len(plan), config.MaxParts, "a %d-byte stream", stream)
					for i, p := range plan {
						require.LessOrEqual(t, p.size, int64(config.MaxPartSize))
						if i < len(plan)-1 {
							require.GreaterOrEqual(t, p.size, int64(config.MinPartSize), "part %d of a %d-byte stream", i+1, stream)
						}
						full := partSize(base, i+1) // what the upload takes for the part before the stream's end trims it
						if p.spool {
							require.Greater(t, full, budget, "part %d spools though its %d bytes fit a budget of %d", i+1, full, budget)
						} else {
							require.LessOrEqual(t, full, budget, "part %d holds %d bytes in memory, over a budget of %d", i+1, full, budget)
						}
					}
				}
			})
		}
	}
	t.Run("the default budget keeps an 8 GiB stream in memory, spools a 100 GiB one's 64 MiB parts", func(t *testing.T) {
		for _, p := range planFor(8<<30, 8<<20, config.DefaultMemoryBudget) {
			assert.False(t, p.spool)
		}
		plan := planFor(100<<30, 8<<20, config.DefaultMemoryBudget)
		assert.True(t, plan[len(plan)-1].spool, "64 MiB parts and more spool with a 48 MiB budget")
	})
}
