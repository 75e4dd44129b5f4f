package doctor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// fault is one thing wrong with a BSL, and the ✗ line doctor must give.
type fault struct {
	name string
	// setup returns the BSL's bucket, config and credentials file.
	setup func(t *testing.T, srv *testenv.S3Server) (bucket string, config map[string]string, creds string)
	// want are the ✗ lines, each as text the line (check, error, fix) holds.
	want [][]string
}

// writeFile writes a credentials file of the test's own.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// common faults: each server can be made to show them.
func commonFaults() []fault {
	plain := func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
		return srv.MakeBucket(t), map[string]string{"s3Url": srv.Endpoint}, srv.CredentialsFile(t)
	}
	return []fault{
		{name: "wrong secret key", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, c, _ := plain(t, srv)
			return b, c, testenv.WriteCredentialsFile(t, "default", srv.AccessKey, "not-the-secret-key")
		}, want: [][]string{{"✗ credentials accepted by the server: the secret key does not match the access key (SignatureDoesNotMatch)",
			"fix: correct aws_secret_access_key in profile [default] of the credentials file"}}},
		{name: "typo key in the credentials file", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, c, _ := plain(t, srv)
			return b, c, writeFile(t, fmt.Sprintf("[default]\naws_access_key = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey))
		}, want: [][]string{{`profile [default] has unknown key "aws_access_key" (line 2; did you mean "aws_access_key_id"?), which no AWS SDK reads`,
			"fix: edit the file (the Secret that the BSL's spec.credential names): under [default] the keys are aws_access_key_id and aws_secret_access_key"}}},
		{name: "missing bucket", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			_, c, creds := plain(t, srv)
			return "no-such-bucket", c, creds
		}, want: [][]string{{`✗ bucket "no-such-bucket" exists in region us-east-1: no bucket "no-such-bucket" on ` + "http://127.0.0.1",
			"fix: create it (`aws s3 mb s3://no-such-bucket`"}}},
		{name: "server clock 20 minutes behind", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, _, creds := plain(t, srv)
			p := testenv.StartProxy(t, srv.Endpoint)
			p.SetDateOffset(-20 * time.Minute)
			return b, map[string]string{"s3Url": p.URL}, creds
		}, want: [][]string{{"✗ clock against the server's: this machine's clock is 20m", "ahead of the server's",
			"S3 refuses signatures more than 15 minutes off (RequestTimeTooSkewed)", "fix: sync the clocks of this machine (the Velero node) and the S3 server with NTP"}}},
		{name: "untrusted CA", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, _, creds := plain(t, srv)
			return b, map[string]string{"s3Url": testenv.StartTLSFront(t, srv.Endpoint, false).URL}, creds
		}, want: [][]string{{"✗ TLS certificate of localhost:", `signed by "test S3 CA", which the system's CAs do not include`,
			"fix: set the BSL's spec.objectStorage.caCert (base64 of the PEM) or caCert to the CA that signed the server's certificate"}}},
		{name: "expired server certificate", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, _, creds := plain(t, srv)
			front := testenv.StartTLSFront(t, srv.Endpoint, true)
			return b, map[string]string{"s3Url": front.URL, "caCert": string(front.CAPEM)}, creds
		}, want: [][]string{{"✗ TLS certificate of localhost:", "the server's certificate expired on ", "fix: renew the S3 server's certificate"}}},
		{name: "unreachable publicUrl", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, c, creds := plain(t, srv)
			c["publicUrl"] = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
			return b, c, creds
		}, want: [][]string{{"✗ signed URL through publicUrl http://127.0.0.1:", "GET failed: ", "connection refused",
			"fix: publicUrl must be an address of the S3 server that the machines running the velero CLI reach"}}},
		{name: "objectLockMode on a bucket without lock", setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
			b, c, creds := plain(t, srv)
			c["objectLockMode"], c["objectLockRetention"] = "GOVERNANCE", "24h"
			return b, c, creds
		}, want: [][]string{{`✗ objectLockMode GOVERNANCE: versioning and Object Lock of bucket "`, "the bucket needs versioning Enabled (it is off) and Object Lock enabled",
			"fix: Object Lock can be turned on only when a bucket is created on most S3 servers"}}},
	}
}

// checkFault runs doctor on the fault's BSL and asserts exactly its ✗
// lines, exit 1, and that nothing is left under .doctor/.
func checkFault(t *testing.T, srv *testenv.S3Server, f fault) {
	bucket, config, creds := f.setup(t, srv)
	out, stderr, code := run(t, "--bsl", writeManifest(t, bsl(bucket, "cluster-a", config)), "--credentials-file", creds)
	assert.Equal(t, 1, code, "exit code; stderr: %s", stderr)
	got := failed(out)
	require.Len(t, got, len(f.want), "✗ lines:\n%s", out)
	for i, want := range f.want {
		for _, part := range want {
			assert.Contains(t, got[i], part, "✗ line %d", i)
		}
	}
	assert.NotContains(t, out, srv.SecretKey, "no secret key in the report")
	assert.NotContains(t, out, "X-Amz-Signature=", "no signed URL in the report")
	if strings.Contains(out, "write a probe object") {
		assertNoProbes(t, srv, bucket)
	} else {
		assert.Contains(t, out, "- later checks: skipped", "no probe was written: doctor stopped before them")
	}
}

// assertNoProbes lists the bucket with the server's own credentials.
func assertNoProbes(t *testing.T, srv *testenv.S3Server, bucket string) {
	t.Helper()
	var left []string
	for o := range srv.Client().ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: srv.Name == "minio"}) {
		require.NoError(t, o.Err)
		left = append(left, o.Key)
	}
	assert.Empty(t, left, "objects left in the bucket")
}

func TestDoctorBSLFaults(t *testing.T) {
	servers := map[string]func(t *testing.T) *testenv.S3Server{
		"minio":     func(t *testing.T) *testenv.S3Server { return testenv.StartMinIO(t, testenv.MinIOOptions{}) },
		"versitygw": func(t *testing.T) *testenv.S3Server { return testenv.StartVersityGW(t) },
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			t.Run("good", func(t *testing.T) {
				bucket := srv.MakeBucket(t)
				out, stderr, code := run(t, "--bsl", writeManifest(t, bsl(bucket, "cluster-a", map[string]string{"s3Url": srv.Endpoint})),
					"--credentials-file", srv.CredentialsFile(t))
				require.Equal(t, 0, code, "%s\n%s", out, stderr)
				assert.Empty(t, failed(out))
				assert.Contains(t, out, "- probe objects removed: nothing is left under cluster-a/.doctor/")
				assert.Contains(t, out, "- identity in use: access key "+srv.AccessKey[:4]+"… from credentialsFile ")
				assertNoProbes(t, srv, bucket)
			})
			for _, f := range commonFaults() {
				t.Run(f.name, func(t *testing.T) { checkFault(t, srv, f) })
			}
		})
	}
}

func TestDoctorBSLWrongRegion(t *testing.T) {
	servers := map[string]*testenv.S3Server{
		"minio":     testenv.StartMinIO(t, testenv.MinIOOptions{Region: "eu-west-1"}),
		"versitygw": testenv.StartVersityGWInRegion(t, "eu-west-1"),
	}
	for name, srv := range servers {
		t.Run(name, func(t *testing.T) {
			checkFault(t, srv, fault{setup: func(t *testing.T, srv *testenv.S3Server) (string, map[string]string, string) {
				return srv.MakeBucket(t), map[string]string{"s3Url": srv.Endpoint, "region": "us-east-1"}, srv.CredentialsFile(t)
			}, want: [][]string{{"✗ bucket", "exists in region us-east-1: the server is in region eu-west-1", "fix: set region: eu-west-1 in the BSL config"}}})
		})
	}
}

// TestDoctorBSLVeleroDocsMinIO is the MinIO BSL of Velero's docs
// (region: minio) on a MinIO started without MINIO_REGION: every request
// works, GetBucketLocation answers us-east-1, and that is a note, not a
// failure.
func TestDoctorBSLVeleroDocsMinIO(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{}) // no region: MinIO takes any
	bucket := srv.MakeBucket(t)
	config := map[string]string{"region": "minio", "s3ForcePathStyle": "true", "s3Url": srv.Endpoint}
	out, stderr, code := run(t, "--bsl", writeManifest(t, bsl(bucket, "cluster-a", config)), "--credentials-file", srv.CredentialsFile(t))
	require.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Empty(t, failed(out))
	assert.Contains(t, lines(out), fmt.Sprintf("✓ bucket %q exists in region minio: the server takes requests signed for region minio", bucket))
	assert.Contains(t, lines(out), "- region the server names: GetBucketLocation answers us-east-1, not the BSL's minio; the server takes requests signed for minio, so this is no fault")
	assert.Contains(t, out, "✓ plugin Init (what Velero runs)")
	assertNoProbes(t, srv, bucket)
}

func TestDoctorBSLTrustedTLS(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	front := testenv.StartTLSFront(t, srv.Endpoint, false)
	out, stderr, code := run(t, "--bsl", writeManifest(t, bsl(srv.MakeBucket(t), "", map[string]string{"s3Url": front.URL, "caCert": string(front.CAPEM)})),
		"--credentials-file", srv.CredentialsFile(t))
	require.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, `✓ TLS certificate of localhost:`)
	assert.Contains(t, out, `certificate for localhost issued by "test S3 CA", valid until`)
}

// TestDoctorBSLPermissions meets real AccessDenied answers: MinIO's STS
// credentials with a session policy that leaves one action out.
func TestDoctorBSLPermissions(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	all := []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration",
		"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
	cases := []struct{ without, want, fix string }{
		{"s3:DeleteObject", "✗ delete cluster-a/.doctor/", "fix: grant s3:DeleteObject on arn:aws:s3:::%s/cluster-a/* to the BSL's identity"},
		{"s3:AbortMultipartUpload", "✗ abort a multipart upload: abort multipart upload of", "fix: grant s3:AbortMultipartUpload on arn:aws:s3:::%s/cluster-a/* to the BSL's identity"},
		{"s3:ListBucketMultipartUploads", "✗ list multipart uploads (the stale-upload sweep): list multipart uploads of", "fix: grant s3:ListBucketMultipartUploads on arn:aws:s3:::%s, or the uploads"},
	}
	for _, c := range cases {
		t.Run("without "+c.without, func(t *testing.T) {
			bucket := srv.MakeBucket(t)
			var allowed []string
			for _, a := range all {
				if a != c.without {
					allowed = append(allowed, `"`+a+`"`)
				}
			}
			policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[%s],"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}`,
				strings.Join(allowed, ","), bucket, bucket)
			creds := srv.RestrictedCredentialsFile(t, policy)
			out, _, code := run(t, "--bsl", writeManifest(t, bsl(bucket, "cluster-a", map[string]string{"s3Url": srv.Endpoint})), "--credentials-file", creds)
			assert.Equal(t, 1, code)
			got := failed(out)
			require.NotEmpty(t, got, out)
			for _, l := range got {
				assert.Contains(t, l, c.want, out)
				assert.Contains(t, l, fmt.Sprintf(c.fix, bucket))
			}
			if c.without == "s3:DeleteObject" {
				assert.Contains(t, out, "- probe objects left behind: ", "what remains is said")
			}
		})
	}
}

// TestDoctorBSLRole: with roleArn doctor works as the role's session and
// says so; a role STS will not give is the credentials line, with why.
func TestDoctorBSLRole(t *testing.T) {
	const role = "arn:minio:iam:::role/velero-backup"
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	bucket := srv.MakeBucket(t)
	out, stderr, code := run(t, "--bsl", writeManifest(t, bsl(bucket, "cluster-a", map[string]string{"s3Url": srv.Endpoint, "roleArn": role})),
		"--credentials-file", srv.CredentialsFile(t))
	require.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "✓ credentials found: access key ")
	assert.Contains(t, out, "(from AssumeRoleProvider)")
	assert.Contains(t, out, "- identity in use: role "+role+" assumed as session velero-plugin-s3csi; temporary key ")
	assertNoProbes(t, srv, bucket)

	// MinIO gives no role to temporary credentials: a real refusal.
	temp := srv.RestrictedCredentialsFile(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`)
	out, _, code = run(t, "--bsl", writeManifest(t, bsl(bucket, "cluster-a", map[string]string{"s3Url": srv.Endpoint, "roleArn": role})),
		"--credentials-file", temp)
	assert.Equal(t, 1, code)
	got := failed(out)
	require.Len(t, got, 1, out)
	assert.Contains(t, got[0], "✗ credentials found: ")
	assert.Contains(t, got[0], "refused to assume role "+role+" (roleArn, session velero-plugin-s3csi;")
	assert.NotContains(t, out, srv.SecretKey)
}
