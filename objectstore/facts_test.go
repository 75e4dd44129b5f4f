package objectstore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/config"
)

func parsed(t *testing.T, kv ...string) *config.ObjectStore {
	t.Helper()
	m := map[string]string{"bucket": "velero"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	c, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: m})
	require.NoError(t, err)
	return c
}

// A bucket's default retention needs a checksum on every write: CRC32
// unless checksumAlgorithm was chosen. It is a fact beside the config,
// which stays as parsed, and the settings line says why.
func TestFactsDefaultRetention(t *testing.T) {
	tests := []struct {
		name   string
		kv     []string
		want   string
		wantAt string // fields["checksumAlgorithm"]
	}{
		{"s3Url, checksum not set: CRC32", []string{"s3Url", "http://minio:9000"}, "CRC32", "CRC32 (default: the bucket's default Object Lock retention needs one)"},
		{"s3Url, checksum chosen: kept", []string{"s3Url", "http://minio:9000", "checksumAlgorithm", "sha256"}, "SHA256", "SHA256 (BSL config)"},
		{"s3Url, checksum set to none: kept", []string{"s3Url", "http://minio:9000", "checksumAlgorithm", ""}, "", "none (BSL config)"},
		{"AWS: CRC32 already", nil, "CRC32", "CRC32 (default)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parsed(t, tt.kv...)
			before := *c
			f := newFacts(c).withRetention(c)
			assert.True(t, f.retention)
			assert.Equal(t, tt.want, f.checksum)
			assert.Equal(t, tt.wantAt, f.fields(c)["checksumAlgorithm"])
			assert.Equal(t, before.ChecksumAlgorithm, c.ChecksumAlgorithm, "the config stays as parsed")
		})
	}
	t.Run("no retention: the config's checksum", func(t *testing.T) {
		c := parsed(t, "s3Url", "http://minio:9000")
		f := newFacts(c)
		assert.False(t, f.retention)
		assert.Equal(t, "", f.checksum)
		assert.Equal(t, "none (default)", f.fields(c)["checksumAlgorithm"])
	})
}

// A region AWS named for the bucket is logged as the region, as a
// default, while the config keeps none.
func TestFactsLookedUpRegion(t *testing.T) {
	c := parsed(t)
	require.True(t, c.RegionLookup)
	f := newFacts(c)
	f.region = "eu-west-1"
	assert.Equal(t, "eu-west-1 (default)", f.fields(c)["region"])
	assert.Equal(t, "", c.Region, "the config stays as parsed")

	c = parsed(t, "region", "us-west-2")
	assert.Equal(t, "us-west-2 (BSL config)", newFacts(c).fields(c)["region"], "a region set is shown as config shows it")
}
