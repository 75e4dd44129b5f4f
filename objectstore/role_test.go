package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// minioRole is a role ARN in MinIO's form. MinIO's plain AssumeRole takes
// RoleArn and ExternalId and ignores both: the session inherits the
// caller's own policy (cmd/sts-handlers.go, AssumeRole).
const minioRole = "arn:minio:iam:::role/velero-backup"

// stsKinds counts the STS requests (POSTs to no bucket) the proxy saw.
func stsCount(p *testenv.Proxy) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Kind() == "STS" {
			n++
		}
	}
	return n
}

// Through Velero's host on MinIO: with roleArn the plugin assumes the role
// with the BSL's credentials and every S3 request is signed with the
// role's session (it carries the session token), writes and reads work.
func TestRoleWritesThroughHost(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	p := testenv.StartProxy(t, srv.Endpoint)
	cfg := storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole, "roleSessionName", "cluster-a")
	s, h := hostStore(t, srv, cfg)
	body := gzipped(t, randomBytes(t, 7<<20))
	require.NoError(t, s.PutObject(bucket, "backups/b1/b1.tar.gz", stream(body)))
	assert.Equal(t, digest(body), digest(readAll(t, s, bucket, "backups/b1/b1.tar.gz")))

	assert.Equal(t, 1, stsCount(p), "the role is assumed once at Init, then its session cached")
	for _, r := range p.Requests() {
		if r.Kind() != "STS" {
			assert.NotEmpty(t, r.Header.Get("X-Amz-Security-Token"), "%s is not signed with the role's session", r.Kind())
		}
	}
	line := settingsLine(t, h.Logs, 1)
	assert.Equal(t, minioRole+" (BSL config)", line["roleArn"])
	assert.Equal(t, "cluster-a (BSL config)", line["roleSessionName"])
	assert.Equal(t, p.URL+" (default)", line["stsUrl"])
}

// MinIO refuses AssumeRole to temporary credentials, a real STS refusal:
// Init fails, naming the role, whether externalId is set, and the fix.
func TestRoleRefusedAtInit(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	temp := srv.RestrictedCredentialsFile(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`)
	for _, tc := range []struct {
		name  string
		extra []string
		ext   string
	}{
		{"no externalId", nil, "no externalId is set"},
		{"externalId", []string{"externalId", "d1b9-4c2e"}, "externalId is set (it must equal the trust policy's sts:ExternalId condition)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := objectstore.New(testenv.NewLogCapture(0).Logger, kube.New())
			err := s.Init(storeConfig(srv, bucket, append([]string{"credentialsFile", temp, "roleArn", minioRole}, tc.extra...)...))
			require.Error(t, err)
			assert.True(t, errors.Is(err, objectstore.ErrAccessDenied), "%v", err)
			for _, want := range []string{"refused to assume role " + minioRole, tc.ext, "trust policy must allow the caller", "sts:AssumeRole", "STS at " + srv.Endpoint} {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
	t.Run("through the host", func(t *testing.T) {
		h := testenv.StartHost(t, testenv.PluginDir(t), 0)
		s, err := h.Manager.GetObjectStore("example.io/s3compat")
		require.NoError(t, err)
		err = s.Init(storeConfig(srv, bucket, "credentialsFile", temp, "roleArn", minioRole))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "refused to assume role "+minioRole)
	})
}

// A write the role may not make names the role. MinIO's AssumeRole gives
// the session its caller's policy, and the root user's cannot be narrowed
// without MinIO's admin API, so the proxy answers the writes with S3's
// AccessDenied while the role's session is real.
func TestRoleAccessDeniedNamesRole(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	p := testenv.StartProxy(t, srv.Endpoint)
	s, _ := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole))
	p.SetFail(testenv.OfKind("PutObject", "CreateMultipartUpload"))
	ls := objectstore.New(testenv.NewLogCapture(0).Logger, kube.New())
	require.NoError(t, ls.Init(storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole, "credentialsFile", srv.CredentialsFile(t))))
	for _, size := range []int{1 << 10, 12 << 20} { // a single put and a multipart upload
		err := ls.PutObject(bucket, "backups/b1/b1.tar.gz", stream(gzipped(t, randomBytes(t, size))))
		require.Error(t, err)
		assert.True(t, errors.Is(err, objectstore.ErrAccessDenied), "%v", err)
		assert.Contains(t, err.Error(), "access denied")
		assert.Contains(t, err.Error(), "(as role "+minioRole+")")
	}
	// Velero's host reports a PutObject error as EOF; the plugin's log line names the role.
	require.Error(t, s.PutObject(bucket, "backups/b2/b2.tar.gz", stream(gzipped(t, []byte("x")))))
}

// A session shorter than the upload is renewed while it runs: the proxy
// moves the first session's Expiration to just past the renewal window,
// and the upload, slowed by the proxy's bandwidth limit, assumes the role
// again and completes.
func TestRoleRefreshedDuringUpload(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	p := testenv.StartProxy(t, srv.Endpoint)
	expiration := regexp.MustCompile(`<Expiration>[^<]*</Expiration>`)
	rewritten := 0
	p.SetRewrite(testenv.OfKind("STS"), func(body []byte) []byte {
		if !bytes.Contains(body, []byte("<AssumeRoleResponse")) {
			return body
		}
		rewritten++
		soon := time.Now().Add(objectstore.RoleExpiryWindow + 2*time.Second).UTC().Format(time.RFC3339)
		return expiration.ReplaceAll(body, []byte("<Expiration>"+soon+"</Expiration>"))
	})
	s, _ := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole, "multipartPartSize", "5Mi", "multipartConcurrency", "2"))
	require.Equal(t, 1, stsCount(p))
	body := gzipped(t, randomBytes(t, 30<<20))
	p.SetBandwidth(3 << 20) // 30 MiB take at least 10 s, the first session lasts 2 s
	require.NoError(t, s.PutObject(bucket, "backups/b1/b1.tar.gz", stream(body)))
	p.SetBandwidth(0)
	assert.GreaterOrEqual(t, stsCount(p), 2, "the role was assumed again during the upload")
	assert.Equal(t, stsCount(p), rewritten)
	assert.Equal(t, digest(body), digest(readAll(t, s, bucket, "backups/b1/b1.tar.gz")))
}

// callerIdentity on MinIO, which answers GetCallerIdentity with an error:
// the identity is said from the credentials, never with a secret.
func TestRoleCallerIdentity(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	creds := srv.CredentialsFile(t)
	ctx := context.Background()
	got, err := objectstore.IdentityOf(ctx, storeConfig(srv, bucket, "credentialsFile", creds, "roleArn", minioRole))
	require.NoError(t, err)
	assert.Regexp(t, `^role `+regexp.QuoteMeta(minioRole)+` assumed as session velero-plugin-s3csi; temporary key \S{4}…, expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, got)
	got2, err := objectstore.IdentityOf(ctx, storeConfig(srv, bucket, "credentialsFile", creds))
	require.NoError(t, err)
	assert.Equal(t, "access key "+srv.AccessKey[:4]+"… from credentialsFile "+creds+" profile default", got2)
	for _, g := range []string{got, got2} {
		assert.NotContains(t, g, srv.SecretKey)
		assert.False(t, strings.Contains(g, srv.AccessKey) && len(srv.AccessKey) > 4, "the whole access key shows: %s", g)
	}
}
