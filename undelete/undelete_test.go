package undelete_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// result is one run of the built binary.
type result struct {
	stdout, stderr string
	code           int
}

// undelete runs `velero-plugin-s3csi undelete args...` with env added to
// an environment that holds no AWS settings of the machine's.
func undelete(t *testing.T, env []string, args ...string) result {
	t.Helper()
	bin := filepath.Join(testenv.PluginDir(t), "velero-plugin-s3csi")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"undelete"}, args...)...)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none")}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		require.True(t, ok, "run %v: %v", args, err)
		r.code = exit.ExitCode()
	}
	t.Logf("undelete %s → %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// args are the flags that reach srv's bucket with its credentials.
func args(srv *testenv.S3Server, credFile, bucket, prefix, backup string, more ...string) []string {
	return append([]string{"--bucket", bucket, "--prefix", prefix, "--backup", backup,
		"--s3-url", srv.Endpoint, "--credentials-file", credFile}, more...)
}

// writeBackup writes a backup's objects as Velero does, velero-backup.json
// twice (so two versions), and returns each key's latest content.
func writeBackup(t *testing.T, c *minio.Client, bucket, prefix, name string) map[string][]byte {
	t.Helper()
	dir := strings.TrimPrefix(prefix+"/backups/"+name+"/", "/")
	want := map[string][]byte{}
	put := func(key string, body []byte) {
		_, err := c.PutObject(context.Background(), bucket, dir+key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		require.NoError(t, err, "put %s", key)
		want[dir+key] = body
	}
	put("velero-backup.json", []byte(`{"kind":"Backup","metadata":{"name":"`+name+`"},"status":{"phase":"InProgress"}}`))
	for i, f := range []string{name + ".tar.gz", name + "-logs.gz", name + "-podvolumebackups.json.gz",
		name + "-volumesnapshots.json.gz", name + "-resource-list.json.gz", name + "-results.gz"} {
		body := make([]byte, 1000+i*70000)
		_, _ = rand.Read(body)
		put(f, body)
	}
	put("velero-backup.json", []byte(`{"kind":"Backup","metadata":{"name":"`+name+`"},"status":{"phase":"Completed"}}`))
	return want
}

// deleteBackup deletes every object under the backup's folder without a
// version id, as Velero's DeleteBackup does: delete markers.
func deleteBackup(t *testing.T, c *minio.Client, bucket, dir string) {
	t.Helper()
	ctx := context.Background()
	n := 0
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		require.NoError(t, o.Err)
		require.NoError(t, c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{}), "delete %s", o.Key)
		n++
	}
	require.NotZero(t, n, "nothing to delete under %s", dir)
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		t.Fatalf("%s is still listed after delete (err %v)", o.Key, o.Err)
	}
}

// countLines counts the lines of out that start with prefix.
func countLines(out, prefix string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// state is every version and delete marker in the bucket, one line each.
func state(t *testing.T, c *minio.Client, bucket string) []string {
	t.Helper()
	var out []string
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		require.NoError(t, o.Err)
		out = append(out, fmt.Sprintf("%s %s marker=%v latest=%v", o.Key, o.VersionID, o.IsDeleteMarker, o.IsLatest))
	}
	sort.Strings(out)
	require.NotEmpty(t, out)
	return out
}

// assertContent checks that each key reads back with the wanted bytes.
func assertContent(t *testing.T, c *minio.Client, bucket string, want map[string][]byte) {
	t.Helper()
	for key, body := range want {
		o, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
		require.NoError(t, err)
		got, err := io.ReadAll(o)
		o.Close()
		require.NoError(t, err, "get %s", key)
		assert.Equal(t, sha256.Sum256(body), sha256.Sum256(got), "content of %s", key)
	}
}

func TestUndeleteLockedBucket(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	c := srv.Client()
	creds := srv.CredentialsFile(t)
	for _, mode := range []minio.RetentionMode{minio.Governance, minio.Compliance} {
		t.Run(string(mode), func(t *testing.T) {
			bucket := srv.MakeLockedBucket(t, mode, 1)
			b1 := writeBackup(t, c, bucket, "cluster-a", "b1")
			b2 := writeBackup(t, c, bucket, "cluster-a", "b2")
			writeBackup(t, c, bucket, "cluster-a", "b10") // shares b1's name as a prefix: stays deleted
			deleteBackup(t, c, bucket, "cluster-a/backups/b1/")
			deleteBackup(t, c, bucket, "cluster-a/backups/b10/")
			before := state(t, c, bucket)

			r := undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b1", "--dry-run")...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, len(b1), countLines(r.stdout, "would remove delete marker "), "one marker per object")
			assert.Contains(t, r.stdout, "of s3://"+bucket+"/cluster-a/backups/b1/b1.tar.gz (restores version ")
			assert.Contains(t, r.stdout, "dry run: 7 objects would be restored; nothing was changed")
			assert.NotContains(t, r.stdout, "/backups/b10/")
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			assert.Contains(t, lines[len(lines)-2], "/velero-backup.json (", "velero-backup.json comes back last")
			assert.Equal(t, before, state(t, c, bucket), "a dry run changes nothing")

			r = undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b1")...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, len(b1), countLines(r.stdout, "remove delete marker "))
			assert.Contains(t, r.stdout, "7 objects restored; Velero's backup sync (every --backup-sync-period, 1 min by default) brings backup b1 back")
			assertContent(t, c, bucket, b1)
			assertContent(t, c, bucket, b2)
			after := state(t, c, bucket)
			for _, l := range before {
				if !strings.HasPrefix(l, "cluster-a/backups/b1/") {
					assert.Contains(t, after, l, "untouched")
				}
			}
			for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "cluster-a/backups/b10/", Recursive: true}) {
				t.Errorf("b10 came back: %s", o.Key)
			}

			r = undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b1")...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "backup b1 is not deleted: nothing to do")
			assert.Equal(t, after, state(t, c, bucket))
		})
	}
}

func TestUndeleteRefuses(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	c := srv.Client()
	creds := srv.CredentialsFile(t)
	bucket := srv.MakeVersionedBucket(t)
	writeBackup(t, c, bucket, "cluster-a", "b1")
	deleteBackup(t, c, bucket, "cluster-a/backups/b1/")

	t.Run("versions gone", func(t *testing.T) {
		key := "cluster-a/backups/b1/b1.tar.gz"
		for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
			require.NoError(t, o.Err)
			if !o.IsDeleteMarker {
				require.NoError(t, c.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{VersionID: o.VersionID}))
			}
		}
		before := state(t, c, bucket)
		r := undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b1")...)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "refusing to change anything: the object's versions are gone: only delete markers are left of s3://"+bucket+"/"+key)
		assert.Empty(t, r.stdout)
		assert.Equal(t, before, state(t, c, bucket), "nothing changed")
	})
	t.Run("no velero-backup.json", func(t *testing.T) {
		_, err := c.PutObject(context.Background(), bucket, "cluster-a/backups/b3/b3.tar.gz", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		require.NoError(t, err)
		deleteBackup(t, c, bucket, "cluster-a/backups/b3/")
		before := state(t, c, bucket)
		r := undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b3")...)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "velero-backup.json would be missing: s3://"+bucket+"/cluster-a/backups/b3/velero-backup.json has no version")
		assert.Equal(t, before, state(t, c, bucket), "nothing changed")
	})
	t.Run("unknown backup", func(t *testing.T) {
		r := undelete(t, nil, args(srv, creds, bucket, "cluster-a", "nope")...)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "no versions of backup nope under s3://"+bucket+"/cluster-a/backups/nope/")
	})
	t.Run("no such bucket", func(t *testing.T) {
		r := undelete(t, nil, args(srv, creds, "no-such-bucket", "cluster-a", "b1")...)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "no such bucket no-such-bucket")
	})
	t.Run("wrong secret fails fast and prints no secret", func(t *testing.T) {
		bad := testenv.WriteCredentialsFile(t, "default", srv.AccessKey, "not-the-secret-key")
		proxy := testenv.StartProxy(t, srv.Endpoint)
		r := undelete(t, nil, "--bucket", bucket, "--prefix", "cluster-a", "--backup", "b1", "--s3-url", proxy.URL, "--credentials-file", bad)
		assert.Equal(t, 1, r.code)
		assert.Len(t, proxy.Requests(), 1, "a refused credential is not retried")
		assert.Contains(t, r.stderr, "the server does not accept the credentials (check --credentials-file and --profile)")
		assert.NotContains(t, r.stderr+r.stdout, "not-the-secret-key")
	})
	t.Run("missing flags and bad names are usage errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			says string
		}{
			{[]string{"--backup", "b1"}, "--bucket is required"},
			{[]string{"--bucket", bucket}, "--backup is required"},
			{[]string{"--bucket", bucket, "--backup", "a/b"}, `--backup "a/b" is not a backup name`},
			{[]string{"--bucket", bucket, "--backup", "b1", "--s3-url", "minio:9000"}, `--s3-url "minio:9000"`},
			{[]string{"--bucket", bucket, "--backup", "b1", "extra"}, `unexpected argument "extra"`},
			{[]string{"--bucket", bucket, "--backup", "b1", "--no-such-flag"}, "unknown flag: --no-such-flag"},
			{[]string{"--bucket", bucket, "--backup", "b1"}, "--region is required for AWS"},
		} {
			r := undelete(t, nil, tc.args...)
			assert.Equal(t, 2, r.code, tc.args)
			assert.Contains(t, r.stderr, tc.says)
		}
		r := undelete(t, nil, "--help")
		assert.Equal(t, 0, r.code)
		assert.Contains(t, r.stderr, "Usage: velero-plugin-s3csi undelete --bucket BUCKET")
	})
}

// TestUndeleteAccessDenied meets real AccessDenied answers with MinIO's
// STS session policies, and checks that the error names the permission.
func TestUndeleteAccessDenied(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	c := srv.Client()
	bucket := srv.MakeLockedBucket(t, minio.Governance, 1)
	writeBackup(t, c, bucket, "cluster-a", "b1")
	deleteBackup(t, c, bucket, "cluster-a/backups/b1/")
	before := state(t, c, bucket)
	policy := func(actions ...string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["` + strings.Join(actions, `","`) +
			`"],"Resource":["arn:aws:s3:::` + bucket + `","arn:aws:s3:::` + bucket + `/*"]}]}`
	}

	noDelete := srv.RestrictedCredentialsFile(t, policy("s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:DeleteObject"))
	r := undelete(t, nil, args(srv, noDelete, bucket, "cluster-a", "b1")...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "access denied (the credentials need s3:DeleteObjectVersion (on MinIO also s3:DeleteObject) on bucket "+bucket+")")
	assert.Contains(t, r.stderr, "0 of 7 delete markers removed; run undelete again to finish")

	noList := srv.RestrictedCredentialsFile(t, policy("s3:GetObject", "s3:DeleteObjectVersion"))
	r = undelete(t, nil, args(srv, noList, bucket, "cluster-a", "b1")...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "access denied (the credentials need s3:ListBucketVersions on bucket "+bucket+")")
	assert.Equal(t, before, state(t, c, bucket), "nothing changed")

	// AWS checks s3:DeleteObjectVersion for a delete with a version id;
	// MinIO checks s3:DeleteObject as well.
	noPlainDelete := srv.RestrictedCredentialsFile(t, policy("s3:ListBucketVersions", "s3:DeleteObjectVersion"))
	r = undelete(t, nil, args(srv, noPlainDelete, bucket, "cluster-a", "b1")...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "access denied (the credentials need s3:DeleteObjectVersion (on MinIO also s3:DeleteObject) on bucket "+bucket+")")
	assert.Equal(t, before, state(t, c, bucket), "nothing changed")

	enough := srv.RestrictedCredentialsFile(t, policy("s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion"))
	r = undelete(t, nil, args(srv, enough, bucket, "cluster-a", "b1")...)
	assert.Equal(t, 0, r.code, "the documented permissions are enough")
	assert.Contains(t, r.stdout, "7 objects restored")
}

// TestUndeleteNoPrefix: a BSL without a prefix, credentials from the
// environment (the SDK's chain), and a named profile in a file.
func TestUndeleteNoPrefix(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	c := srv.Client()
	bucket := srv.MakeVersionedBucket(t)
	b1 := writeBackup(t, c, bucket, "", "b1")
	deleteBackup(t, c, bucket, "backups/b1/")

	env := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey}
	r := undelete(t, env, "--bucket", bucket, "--backup", "b1", "--s3-url", srv.Endpoint, "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "would remove delete marker ")
	assert.Contains(t, r.stdout, "of s3://"+bucket+"/backups/b1/velero-backup.json (")

	profiled := testenv.WriteCredentialsFile(t, "velero", srv.AccessKey, srv.SecretKey)
	r = undelete(t, nil, "--bucket", bucket, "--prefix", "", "--backup", "b1", "--s3-url", srv.Endpoint,
		"--credentials-file", profiled, "--profile", "velero", "--region", "us-east-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "7 objects restored")
	assertContent(t, c, bucket, b1)
}

func TestUndeleteTLS(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{TLS: true})
	c := srv.Client()
	creds := srv.CredentialsFile(t)
	bucket := srv.MakeLockedBucket(t, minio.Governance, 1)
	b1 := writeBackup(t, c, bucket, "cluster-a", "b1")
	deleteBackup(t, c, bucket, "cluster-a/backups/b1/")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CAPEM, 0o600))

	fwd, conns := countConns(t, strings.TrimPrefix(srv.Endpoint, "https://"))
	r := undelete(t, nil, "--bucket", bucket, "--prefix", "cluster-a", "--backup", "b1", "--s3-url", "https://"+fwd,
		"--credentials-file", creds, "--dry-run")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "TLS verification failed (give the server's CA with --ca-cert)")
	assert.Equal(t, int64(1), conns.Load(), "a refused certificate is not retried: one connection")

	r = undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b1", "--dry-run", "--insecure-skip-tls-verify")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "dry run: 7 objects would be restored")

	r = undelete(t, nil, args(srv, creds, bucket, "cluster-a", "b1", "--ca-cert", ca)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "7 objects restored")
	assertContent(t, c, bucket, b1)
}

// countConns forwards the TCP connections made to the returned address to
// target, and counts them: each retry after a failed TLS handshake is a
// new connection.
func countConns(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	n := new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	return l.Addr().String(), n
}
