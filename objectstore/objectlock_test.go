package objectstore_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/objectstore"
)

// lockRetention is the objectLockRetention of these tests: the servers
// and their data are gone long before it ends.
const lockRetention = 24 * time.Hour

// Objects written through Velero's host with objectLockMode carry the
// mode and a retain-until date; the versions cannot be deleted, yet
// Velero's deletes work: a delete marker hides the key.
func TestObjectLock(t *testing.T) {
	objectstore.EachLockServer(t, func(t *testing.T, srv *testenv.S3Server) {
		for _, mode := range []string{"GOVERNANCE", "COMPLIANCE"} {
			t.Run(mode, func(t *testing.T) { runLockSuite(t, srv, mode) })
		}
	})
}

func runLockSuite(t *testing.T, srv *testenv.S3Server, mode string) {
	ctx := context.Background()
	client := srv.Client()
	bucket := srv.MakeLockedBucket(t, "", 0)
	orphan, err := minio.Core{Client: client}.NewMultipartUpload(ctx, bucket, "backups/old/old.tar.gz", minio.PutObjectOptions{})
	require.NoError(t, err)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	// Lower case is taken too.
	s, _ := hostStore(t, srv, map[string]string{"bucket": bucket, "s3Url": proxy.URL, "objectLockMode": strings.ToLower(mode),
		"objectLockRetention": lockRetention.String(), "multipartPartSize": "5Mi", "staleUploadAge": "1s"})
	time.Sleep(1500 * time.Millisecond) // the orphan is then older than staleUploadAge

	small := jsonOf(t, randomBytes(t, 10<<10))
	big := gzipped(t, randomBytes(t, 20<<20))
	keys := map[string][]byte{"backups/b1/velero-backup.json": small, "backups/b1/b1.tar.gz": big}
	start := time.Now()
	for key, data := range keys {
		require.NoError(t, s.PutObject(bucket, key, stream(data)))
	}
	end := time.Now()

	t.Run("objects carry the mode and a retain-until date", func(t *testing.T) {
		for key, data := range keys {
			assert.Equal(t, digest(data), digest(readAll(t, s, bucket, key)), key)
			got, until := retention(t, srv, bucket, key, "")
			assert.Equal(t, mode, got, key)
			assert.False(t, until.Before(start.Add(lockRetention).Add(-time.Second)), "%s: %s is before the upload started + %s", key, until, lockRetention)
			assert.False(t, until.After(end.Add(lockRetention).Add(time.Second)), "%s: %s is after the upload ended + %s", key, until, lockRetention)
		}
	})
	t.Run("every write says so and has a plain checksum header", func(t *testing.T) {
		reqs := proxy.Requests()
		kinds := map[string]int{}
		for _, r := range reqs {
			kinds[r.Kind()]++
			switch r.Kind() {
			case "PutObject", "CreateMultipartUpload":
				assert.Equal(t, mode, r.Header.Get("X-Amz-Object-Lock-Mode"), r.Kind())
				until, err := time.Parse(time.RFC3339, r.Header.Get("X-Amz-Object-Lock-Retain-Until-Date"))
				require.NoError(t, err, r.Kind())
				assert.WithinRange(t, until, start.Add(lockRetention).Add(-time.Second), end.Add(lockRetention).Add(time.Second))
			}
		}
		assert.Equal(t, 1, kinds["PutObject"])
		assert.Equal(t, 1, kinds["CreateMultipartUpload"])
		assert.GreaterOrEqual(t, kinds["UploadPart"], 2)
		requestHeaders(t, reqs, "X-Amz-Checksum-Crc32") // on PutObject and UploadPart, never aws-chunked
	})
	t.Run("the stale upload is swept from a lock-enabled bucket", func(t *testing.T) {
		for u := range client.ListIncompleteUploads(ctx, bucket, "", true) {
			require.NoError(t, u.Err)
			assert.NotEqual(t, orphan, u.UploadID)
		}
	})

	versions := map[string]string{}
	for key := range keys {
		info, err := client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		require.NoError(t, err)
		require.NotEmpty(t, info.VersionID)
		versions[key] = info.VersionID
	}
	t.Run("a version under retention cannot be deleted", func(t *testing.T) {
		for key, id := range versions {
			err := client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{VersionID: id})
			require.Error(t, err, "%s version %s", key, id)
			_, err = client.StatObject(ctx, bucket, key, minio.StatObjectOptions{VersionID: id})
			require.NoError(t, err, "%s version %s is still there", key, id)
		}
	})
	t.Run("Velero's delete hides the object, its version stays", func(t *testing.T) {
		for key := range keys {
			require.NoError(t, s.DeleteObject(bucket, key))
			require.NoError(t, s.DeleteObject(bucket, key), "idempotent")
			ok, err := s.ObjectExists(bucket, key)
			require.NoError(t, err)
			assert.False(t, ok, key)
		}
		listed, err := s.ListObjects(bucket, "backups/")
		require.NoError(t, err)
		assert.Empty(t, listed)
		// Not asserted: MinIO still lists backups/b1/ in ListCommonPrefixes
		// of backups/, as it keeps a prefix whose objects are all delete
		// markers (AWS and Ceph do not); a prefix, never an object.
		kept := map[string][]string{}
		for key, vs := range objectVersions(t, srv, bucket, "backups/b1/") {
			for _, v := range vs {
				if !v.IsDeleteMarker {
					kept[key] = append(kept[key], v.VersionID)
				}
			}
		}
		for key, id := range versions {
			assert.Equal(t, []string{id}, kept[key], key)
		}
	})
	t.Run("overwriting a key keeps both versions, both locked", func(t *testing.T) {
		key := "backups/b2/velero-backup.json"
		first, second := jsonOf(t, randomBytes(t, 100)), jsonOf(t, randomBytes(t, 200))
		require.NoError(t, s.PutObject(bucket, key, stream(first)))
		require.NoError(t, s.PutObject(bucket, key, stream(second)))
		assert.Equal(t, second, readAll(t, s, bucket, key))
		vs := objectVersions(t, srv, bucket, key)[key]
		require.Len(t, vs, 2)
		for _, v := range vs {
			assert.False(t, v.IsDeleteMarker)
			assert.Error(t, client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{VersionID: v.VersionID}), "version %s is locked", v.VersionID)
		}
		got, _ := retention(t, srv, bucket, key, "")
		assert.Equal(t, mode, got)
	})
}

// retention reads a version's Object Lock mode and retain-until date from
// its HEAD answer ("" for the latest version): versitygw's answer to
// GetObjectRetention has the wrong root element for minio-go.
func retention(t *testing.T, srv *testenv.S3Server, bucket, key, versionID string) (string, time.Time) {
	t.Helper()
	info, err := srv.Client().StatObject(context.Background(), bucket, key, minio.StatObjectOptions{VersionID: versionID})
	require.NoError(t, err, "%s version %q", key, versionID)
	until, err := time.Parse(time.RFC3339, info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	require.NoError(t, err, "%s version %q has no retain-until date: %v", key, versionID, info.Metadata)
	return info.Metadata.Get("X-Amz-Object-Lock-Mode"), until
}

// objectVersions lists every version and delete marker under prefix, by key.
func objectVersions(t *testing.T, srv *testenv.S3Server, bucket, prefix string) map[string][]minio.ObjectInfo {
	t.Helper()
	out := map[string][]minio.ObjectInfo{}
	for o := range srv.Client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		require.NoError(t, o.Err)
		out[o.Key] = append(out[o.Key], o)
	}
	return out
}

// Init refuses objectLockMode on a bucket that cannot keep locked
// versions, and says what is missing and how to fix it.
func TestObjectLockInitChecksBucket(t *testing.T) {
	objectstore.EachLockServer(t, testLockInitChecks)
}

func testLockInitChecks(t *testing.T, srv *testenv.S3Server) {
	proxy := testenv.StartProxy(t, srv.Endpoint)
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.InfoLevel, "--log-level=info")
	creds := srv.CredentialsFile(t)
	initLock := func(bucket string, extra ...string) error {
		s, err := h.Manager.GetObjectStore("example.io/s3compat") // Velero inits each store once
		require.NoError(t, err)
		cfg := map[string]string{"bucket": bucket, "s3Url": proxy.URL, "credentialsFile": creds,
			"objectLockMode": "GOVERNANCE", "objectLockRetention": "24h"}
		for i := 0; i+1 < len(extra); i += 2 {
			cfg[extra[i]] = extra[i+1]
		}
		return s.Init(cfg)
	}
	plain, versioned, locked := srv.MakeBucket(t), srv.MakeVersionedBucket(t), srv.MakeLockedBucket(t, "", 0)
	deny := func(query string) func(r *http.Request) bool {
		return func(r *http.Request) bool { return r.URL.Query().Has(query) }
	}
	tests := []struct {
		name   string
		bucket string
		deny   string // a bucket sub-resource the credentials may not read
		extra  []string
		errHas []string
	}{
		{name: "no versioning, no lock", bucket: plain, errHas: []string{
			`objectLockMode GOVERNANCE: versioning and Object Lock of bucket "` + plain + `": the bucket needs versioning Enabled (it is off) and Object Lock enabled (it is not: ObjectLockConfigurationNotFoundError); fix: ` +
				`Object Lock can be turned on only when a bucket is created on most S3 servers`,
			"`mc mb --with-lock`", "`aws s3api put-object-lock-configuration --bucket " + plain + " --object-lock-configuration ObjectLockEnabled=Enabled`"}},
		{name: "versioned without lock", bucket: versioned, errHas: []string{
			`objectLockMode GOVERNANCE: versioning and Object Lock of bucket "` + versioned + `": the bucket needs Object Lock enabled (it is not: ObjectLockConfigurationNotFoundError); fix: `,
			"`aws s3api create-bucket --bucket " + versioned + " --object-lock-enabled-for-bucket`"}},
		{name: "no such bucket", bucket: "no-such-bucket", errHas: []string{`objectLockMode GOVERNANCE: versioning and Object Lock of bucket "no-such-bucket": read versioning of bucket no-such-bucket: no such bucket`}},
		{name: "versioning may not be read", bucket: locked, deny: "versioning", errHas: []string{
			`objectLockMode GOVERNANCE: versioning and Object Lock of bucket "` + locked + `": read versioning of bucket ` + locked + `: access denied`,
			"fix: grant s3:GetBucketVersioning and s3:GetBucketObjectLockConfiguration on arn:aws:s3:::" + locked}},
		{name: "lock configuration may not be read", bucket: locked, deny: "object-lock", errHas: []string{
			`read Object Lock configuration of bucket ` + locked + `: access denied`, "fix: grant s3:GetBucketObjectLockConfiguration and s3:GetBucketVersioning on arn:aws:s3:::" + locked}},
		{name: "a misspelt key", bucket: locked, extra: []string{"objectLockDays", "30"}, errHas: []string{`unknown key "objectLockDays" in BSL config`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.SetFail(nil)
			if tt.deny != "" {
				proxy.SetFail(deny(tt.deny))
			}
			err := initLock(tt.bucket, tt.extra...)
			require.Error(t, err)
			for _, want := range tt.errHas {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
	proxy.SetFail(nil)
	require.NoError(t, initLock(locked), "a lock-enabled bucket passes")
}

// Without objectLockMode, a bucket's default retention is logged once per
// plugin process at Info, and the plugin's writes there carry the checksum
// S3 demands of a write that gets a retention (AWS refuses them without).
func TestObjectLockDefaultRetentionLoggedOnce(t *testing.T) {
	objectstore.EachLockServer(t, testDefaultRetentionLogged)
}

func testDefaultRetentionLogged(t *testing.T, srv *testenv.S3Server) {
	bucket := srv.MakeLockedBucket(t, minio.Governance, 1)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	cfg := storeConfig(srv, bucket, "s3Url", proxy.URL)
	s, h := hostStore(t, srv, cfg)
	require.NoError(t, s.PutObject(bucket, "backups/b1/velero-backup.json", stream([]byte(`{"a":1}`))))
	info, err := srv.Client().StatObject(context.Background(), bucket, "backups/b1/velero-backup.json", minio.StatObjectOptions{})
	require.NoError(t, err)
	assert.Error(t, srv.Client().RemoveObject(context.Background(), bucket, info.Key, minio.RemoveObjectOptions{VersionID: info.VersionID}),
		"the bucket's default retention applies")
	requestHeaders(t, puts(proxy.Requests()), "X-Amz-Checksum-Crc32")
	assert.Equal(t, "CRC32 (default: the bucket's default Object Lock retention needs one)", settingsLine(t, h.Logs, 1)["checksumAlgorithm"])

	plain := storeConfig(srv, srv.MakeBucket(t), "credentialsFile", cfg["credentialsFile"], "s3Url", proxy.URL)
	for _, c := range []map[string]string{cfg, plain} {
		again, err := h.Manager.GetObjectStore("example.io/s3compat") // the same plugin process
		require.NoError(t, err)
		require.NoError(t, again.Init(c))
	}
	settingsLine(t, h.Logs, 3) // the plugin's lines of all three Inits have reached the host
	assert.Equal(t, "CRC32 (default: the bucket's default Object Lock retention needs one)", settingsLine(t, h.Logs, 2)["checksumAlgorithm"],
		"the second Init of the bucket has it from the first one's look")
	assert.Equal(t, "none (default)", settingsLine(t, h.Logs, 3)["checksumAlgorithm"], "a bucket without retention gets none")
	proxy.Reset()
	require.NoError(t, s.PutObject(plain["bucket"], "backups/b2/velero-backup.json", stream([]byte(`{"a":1}`))))
	requestHeaders(t, puts(proxy.Requests()), "")
	isRetention := func(e *logrus.Entry) bool {
		return strings.HasPrefix(e.Message, "bucket has a default Object Lock retention")
	}
	var lines []*logrus.Entry
	for _, e := range h.Logs.Entries() {
		if isRetention(e) {
			lines = append(lines, e)
		}
	}
	require.Len(t, lines, 1, "once per process and bucket, none for a bucket without:\n%s", h.Logs.Text())
	assert.Equal(t, logrus.InfoLevel, lines[0].Level)
	assert.Equal(t, "bucket has a default Object Lock retention: Velero's deletions leave delete markers; versions stay until their date", lines[0].Message)
	assert.Equal(t, bucket, lines[0].Data["bucket"])
	assert.Equal(t, "GOVERNANCE", lines[0].Data["mode"])
	assert.Equal(t, "1 day", lines[0].Data["retention"])
	for _, e := range h.Logs.Entries() {
		if e.Level < logrus.InfoLevel {
			assert.NotContains(t, strings.ToLower(e.Message), "lock", "the probe of a bucket without Object Lock stays quiet")
		}
	}
}

// puts are the write requests among reqs.
func puts(reqs []testenv.Request) []testenv.Request {
	var out []testenv.Request
	for _, r := range reqs {
		switch r.Kind() {
		case "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload":
			out = append(out, r)
		}
	}
	return out
}
