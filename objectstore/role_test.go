package objectstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// minioRole is a role ARN in MinIO's form. MinIO's plain AssumeRole takes
// RoleArn and ExternalId and ignores both: the session inherits the
// caller's own policy (cmd/sts-handlers.go, AssumeRole).
const minioRole = "arn:minio:iam:::role/velero-backup"

// assumeRequests are the AssumeRole requests the proxy saw, in order.
func assumeRequests(p *testenv.Proxy) []testenv.Request {
	var out []testenv.Request
	for _, r := range p.Requests() {
		if r.Kind() == "STS" && r.Form.Get("Action") == "AssumeRole" {
			out = append(out, r)
		}
	}
	return out
}

// s3Requests are the requests the proxy saw that were not STS's.
func s3Requests(p *testenv.Proxy) []testenv.Request {
	var out []testenv.Request
	for _, r := range p.Requests() {
		if r.Kind() != "STS" {
			out = append(out, r)
		}
	}
	return out
}

var signedBy = regexp.MustCompile(`Credential=([^/]+)/`)

// signingKey is the access key a SigV4 request was signed with.
func signingKey(r testenv.Request) string {
	m := signedBy.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return ""
	}
	return m[1]
}

// session is what STS answered to one AssumeRole, read by the proxy.
type session struct{ key, secret, token string }

// sessions collects the sessions STS hands out, through the proxy's
// rewrite hook; expire, when set, rewrites the Expiration of the nth
// session (from 1) to the time it returns.
type sessions struct {
	mu     sync.Mutex
	all    []session
	expire func(n int) (time.Time, bool)
}

var (
	stsField   = regexp.MustCompile(`<(AccessKeyId|SecretAccessKey|SessionToken)>([^<]*)</`)
	expiration = regexp.MustCompile(`<Expiration>[^<]*</Expiration>`)
)

func (ss *sessions) watch(p *testenv.Proxy) {
	p.SetRewrite(testenv.OfKind("STS"), func(body []byte) []byte {
		if !strings.Contains(string(body), "<AssumeRoleResponse") {
			return body
		}
		var s session
		for _, m := range stsField.FindAllSubmatch(body, -1) {
			switch v := string(m[2]); string(m[1]) {
			case "AccessKeyId":
				s.key = v
			case "SecretAccessKey":
				s.secret = v
			case "SessionToken":
				s.token = v
			}
		}
		ss.mu.Lock()
		ss.all = append(ss.all, s)
		n := len(ss.all)
		ss.mu.Unlock()
		if ss.expire != nil {
			if at, ok := ss.expire(n); ok {
				return expiration.ReplaceAll(body, []byte("<Expiration>"+at.UTC().Format(time.RFC3339)+"</Expiration>"))
			}
		}
		return body
	})
}

func (ss *sessions) list() []session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return append([]session(nil), ss.all...)
}

// keys are the access keys of the sessions.
func (ss *sessions) keys() []string {
	var out []string
	for _, s := range ss.list() {
		out = append(out, s.key)
	}
	return out
}

// Through Velero's host on MinIO: with roleArn the plugin assumes the role
// once with the BSL's credentials, sending roleArn, roleSessionName and
// externalId, and signs every S3 request with the role's session, not
// with the BSL's keys; writes and reads work, and no secret is logged.
func TestRoleWritesThroughHost(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	p := testenv.StartProxy(t, srv.Endpoint)
	var ss sessions
	ss.watch(p)
	cfg := storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole, "roleSessionName", "cluster-a", "externalId", "d1b9-4c2e", "multipartPartSize", "5Mi")
	s, h := hostStore(t, srv, cfg)
	body := gzipped(t, randomBytes(t, 7<<20)) // two parts
	require.NoError(t, s.PutObject(bucket, "backups/b1/b1.tar.gz", stream(body)))
	assert.Equal(t, digest(body), digest(readAll(t, s, bucket, "backups/b1/b1.tar.gz")))

	assumes := assumeRequests(p)
	require.Equal(t, 1, len(assumes), "the role is assumed once at Init, then its session cached")
	form := assumes[0].Form
	assert.Equal(t, minioRole, form.Get("RoleArn"))
	assert.Equal(t, "cluster-a", form.Get("RoleSessionName"))
	assert.Equal(t, "d1b9-4c2e", form.Get("ExternalId"))
	assert.Equal(t, "3600", form.Get("DurationSeconds"))
	assert.Equal(t, srv.AccessKey, signingKey(assumes[0]), "the BSL's credentials assume the role")

	issued := ss.list()
	require.Len(t, issued, 1)
	require.NotEqual(t, srv.AccessKey, issued[0].key)
	kinds := map[string]bool{}
	for _, r := range s3Requests(p) {
		kinds[r.Kind()] = true
		assert.Equal(t, issued[0].key, signingKey(r), "%s is not signed with the role's session", r.Kind())
		assert.Equal(t, issued[0].token, r.Header.Get("X-Amz-Security-Token"), "%s does not carry the role's session token", r.Kind())
	}
	for _, k := range []string{"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "GetObject"} {
		assert.True(t, kinds[k], "no %s went through the proxy", k)
	}

	line := settingsLine(t, h.Logs, 1)
	assert.Equal(t, minioRole+" (BSL config)", line["roleArn"])
	assert.Equal(t, "cluster-a (BSL config)", line["roleSessionName"])
	assert.Equal(t, p.URL+" (default)", line["stsUrl"])
	for _, secret := range []string{srv.SecretKey, issued[0].secret, issued[0].token} {
		assert.NotContains(t, h.Logs.Text(), secret)
	}
}

// secretsOf are the secret values of an AWS shared-credentials file.
func secretsOf(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if k = strings.TrimSpace(k); ok && (k == "aws_secret_access_key" || k == "aws_session_token") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	require.NotEmpty(t, out, "no secret in %s", path)
	return out
}

// Real STS refusals on MinIO fail Init, naming roleArn and its value and
// what to fix, with no secret in the error: MinIO refuses AssumeRole to
// temporary credentials (the trust-policy kind of refusal), and refuses a
// wrong secret key (the credentials' kind).
func TestRoleRefusedAtInit(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	temp := srv.RestrictedCredentialsFile(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`)
	wrong := testenv.WriteCredentialsFile(t, "default", srv.AccessKey, "not-the-secret-key-2f9c41d7")
	for _, tc := range []struct {
		name  string
		creds string
		extra []string
		want  []string
	}{
		{"temporary credentials, no externalId", temp, nil, []string{
			"refused to assume role " + minioRole + " (roleArn, session velero-plugin-s3csi;", "no externalId is set",
			"trust policy must allow the caller", "sts:AssumeRole", "STS at " + srv.Endpoint}},
		{"temporary credentials, externalId", temp, []string{"externalId", "d1b9-4c2e"}, []string{
			"refused to assume role " + minioRole + " (roleArn,", "externalId is set (it must equal the trust policy's sts:ExternalId condition)"}},
		{"wrong secret key", wrong, nil, []string{
			"STS at " + srv.Endpoint + " refused the credentials meant to assume role " + minioRole + " (roleArn): correct profile [default] of the credentials file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := testenv.NewLogCapture(0)
			s := objectstore.New(logs.Logger, kube.New())
			err := s.Init(storeConfig(srv, bucket, append([]string{"credentialsFile", tc.creds, "roleArn", minioRole}, tc.extra...)...))
			require.Error(t, err)
			assert.True(t, errors.Is(err, objectstore.ErrAccessDenied), "%v", err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			for _, secret := range append(secretsOf(t, tc.creds), srv.SecretKey) {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, logs.Text(), secret)
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
		for _, secret := range secretsOf(t, temp) {
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, h.Logs.Text(), secret)
		}
	})
}

// A request the role may not make names the role and the grant to give
// it. MinIO's AssumeRole gives the session its caller's policy and the
// plugin sends no session policy, so the proxy answers with S3's
// AccessDenied while the role's session is real.
func TestRoleAccessDeniedNamesRole(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	p := testenv.StartProxy(t, srv.Endpoint)
	s, h := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole))
	ls, _ := newStore(t, srv, storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole))
	require.NoError(t, ls.PutObject(bucket, "backups/b0/b0.tar.gz", stream(gzipped(t, []byte("x")))))
	p.SetFail(testenv.OfKind("PutObject", "CreateMultipartUpload", "GetObject"))
	for _, size := range []int{1 << 10, 12 << 20} { // a single put and a multipart upload
		err := ls.PutObject(bucket, "backups/b1/b1.tar.gz", stream(gzipped(t, randomBytes(t, size))))
		require.Error(t, err)
		assert.True(t, errors.Is(err, objectstore.ErrAccessDenied), "%v", err)
		assert.Contains(t, err.Error(), "(as role "+minioRole+")")
		assert.Equal(t, "grant s3:PutObject on arn:aws:s3:::"+bucket+"/* to role "+minioRole+" (roleArn)", finding.FixOf(err))
	}
	_, err := ls.GetObject(bucket, "backups/b0/b0.tar.gz")
	require.Error(t, err)
	assert.True(t, errors.Is(err, objectstore.ErrAccessDenied), "%v", err)
	assert.Contains(t, err.Error(), "(as role "+minioRole+")")
	assert.Equal(t, "grant s3:GetObject on arn:aws:s3:::"+bucket+"/* to role "+minioRole+" (roleArn)", finding.FixOf(err))

	// Velero's host reports a PutObject error as EOF; the plugin's log line names the role.
	require.Error(t, s.PutObject(bucket, "backups/b2/b2.tar.gz", stream(gzipped(t, []byte("x")))))
	line := h.Logs.Find(func(e *logrus.Entry) bool {
		return strings.HasPrefix(e.Message, "put object failed") && strings.Contains(fmt.Sprint(e.Data["error"]), "(as role "+minioRole+")")
	})
	assert.NotNil(t, line, "no put-failed line names the role:\n%s", h.Logs.Text())
}

// A session that ends within the renewal window is renewed before the
// next request is signed. The proxy moves the Expiration of a session
// inside the window (MinIO's own last 15 minutes at least), so the SDK
// must assume the role again: the count of AssumeRole requests and the
// key each S3 request is signed with show it, not a clock.
func TestRoleRenewedBeforeExpiry(t *testing.T) {
	srv := startMinIO(t)
	soon := func() time.Time { return time.Now().Add(objectstore.RoleExpiryWindow / 2) }

	t.Run("the first session", func(t *testing.T) {
		bucket := srv.MakeBucket(t)
		p := testenv.StartProxy(t, srv.Endpoint)
		ss := sessions{expire: func(n int) (time.Time, bool) { return soon(), n == 1 }}
		ss.watch(p)
		s, _ := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole))
		body := gzipped(t, randomBytes(t, 64<<10))
		require.NoError(t, s.PutObject(bucket, "backups/b1/b1.tar.gz", stream(body)))
		assert.Equal(t, digest(body), digest(readAll(t, s, bucket, "backups/b1/b1.tar.gz")))

		assert.Equal(t, 2, len(assumeRequests(p)), "the first session is renewed once; the second, of an hour, serves the rest")
		keys := ss.keys()
		require.Len(t, keys, 2)
		require.NotEqual(t, keys[0], keys[1])
		for _, r := range s3Requests(p) {
			assert.Equal(t, keys[1], signingKey(r), "%s is signed with the session that was about to end", r.Kind())
		}
	})

	t.Run("every session, during a multipart upload", func(t *testing.T) {
		bucket := srv.MakeBucket(t)
		p := testenv.StartProxy(t, srv.Endpoint)
		ss := sessions{expire: func(int) (time.Time, bool) { return soon(), true }}
		ss.watch(p)
		s, _ := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", p.URL, "roleArn", minioRole, "multipartPartSize", "5Mi", "multipartConcurrency", "2"))
		body := gzipped(t, randomBytes(t, 16<<20))
		require.NoError(t, s.PutObject(bucket, "backups/b1/b1.tar.gz", stream(body)))
		assert.Equal(t, digest(body), digest(readAll(t, s, bucket, "backups/b1/b1.tar.gz")))

		signer := map[string]string{}
		for _, r := range s3Requests(p) {
			assert.Contains(t, ss.keys(), signingKey(r), "%s is signed with no session STS issued", r.Kind())
			if k := r.Kind(); k == "CreateMultipartUpload" || k == "CompleteMultipartUpload" {
				signer[k] = signingKey(r)
			}
		}
		require.Len(t, signer, 2, "the upload went up in parts")
		assert.NotEqual(t, signer["CreateMultipartUpload"], signer["CompleteMultipartUpload"], "the upload was completed under a renewed session")
		assert.GreaterOrEqual(t, len(assumeRequests(p)), 3, "Init, the upload's start and its end each assume the role")
	})
}

// CallerIdentity on MinIO, which answers GetCallerIdentity with an error:
// the identity is said from the credentials, never with a secret.
func TestRoleCallerIdentity(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	ctx := context.Background()
	role, _ := newStore(t, srv, storeConfig(srv, bucket, "roleArn", minioRole))
	got, err := role.CallerIdentity(ctx)
	require.NoError(t, err)
	assert.Regexp(t, `^role `+regexp.QuoteMeta(minioRole)+` assumed as session velero-plugin-s3csi; temporary key \S{4}…, expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, got)

	creds := srv.CredentialsFile(t)
	plain, _ := newStore(t, srv, storeConfig(srv, bucket, "credentialsFile", creds))
	got2, err := plain.CallerIdentity(ctx)
	require.NoError(t, err)
	assert.Equal(t, "access key "+srv.AccessKey[:4]+"… from credentialsFile "+creds+" profile default", got2)
	for _, g := range []string{got, got2} {
		assert.NotContains(t, g, srv.SecretKey)
		assert.False(t, strings.Contains(g, srv.AccessKey) && len(srv.AccessKey) > 4, "the whole access key shows: %s", g)
	}

	_, err = objectstore.New(testenv.NewLogCapture(0).Logger, kube.New()).CallerIdentity(ctx)
	assert.ErrorContains(t, err, "Init first")
}
