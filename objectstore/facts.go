package objectstore

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
)

// bucketFacts is what Init learned of the bucket from S3. It lives beside
// the parsed config, which stays as config.ParseObjectStore returned it:
// a setting the user left open and S3 answered is read here, never
// written back into the config.
type bucketFacts struct {
	// region is the region requests are signed for: the config's, or
	// with regionLookup the one AWS names for the bucket.
	region string
	// retention: without objectLockMode, the bucket gives every new
	// object a default Object Lock retention (probeDefaultRetention).
	retention bool
	// checksum is the checksum every write carries: checksumAlgorithm,
	// unless the bucket's default retention needs one (withRetention).
	checksum string
}

// newFacts are the facts before S3 has said anything: the config's.
func newFacts(c *config.ObjectStore) bucketFacts {
	return bucketFacts{region: c.Region, checksum: c.ChecksumAlgorithm}
}

// withRetention records that the bucket gives every new object a default
// Object Lock retention. S3 refuses such a write without Content-MD5 or
// an x-amz-checksum-* header, as it does one carrying objectLockMode, so
// an unset checksumAlgorithm becomes CRC32 here too (with s3Url set it is
// otherwise none). One set to "" stays: the write error then names
// checksumAlgorithm.
func (f bucketFacts) withRetention(c *config.ObjectStore) bucketFacts {
	f.retention = true
	if _, set := c.Origin["checksumAlgorithm"]; !set && f.checksum == "" {
		f.checksum = "CRC32"
	}
	return f
}

// fields are the settings Init logs: the config's, with what S3 answered
// in place of what the config left open, shown as config shows a default.
func (f bucketFacts) fields(c *config.ObjectStore) logrus.Fields {
	out := c.Fields()
	if f.region != c.Region {
		from, set := c.Origin["region"]
		if !set {
			from = "default"
		}
		out["region"] = fmt.Sprintf("%s (%s)", f.region, from)
	}
	if f.checksum != c.ChecksumAlgorithm {
		out["checksumAlgorithm"] = f.checksum + " (default: the bucket's default Object Lock retention needs one)"
	}
	return out
}
