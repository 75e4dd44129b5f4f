package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Server is one running S3-compatible server on 127.0.0.1.
type S3Server struct {
	Name      string
	Endpoint  string // http(s)://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	// Features the server has beyond the basics (see Has).
	Features map[string]bool
	// CAPEM is the server's certificate when it serves TLS.
	CAPEM []byte
	t     T
	proc  *exec.Cmd
	start func() *exec.Cmd // starts the process again, on the same port and data
}

// Feature names.
const (
	FeatureSSES3 = "sse-s3" // AES256 and aws:kms with the built-in key
	FeatureSSEC  = "sse-c"
)

// Has reports whether the server supports a feature.
func (s *S3Server) Has(f string) bool { return s.Features[f] }

// KMSKeyID is the key MinIO's built-in KMS serves in these tests.
const KMSKeyID = "test-key"

// MinIOOptions select what the started MinIO serves.
type MinIOOptions struct {
	TLS    bool   // serve https with a fresh self-signed certificate
	Region string // the server's region, which it checks signatures against ("": us-east-1)
}

// StartMinIO starts MinIO (from `make tools`) on a free port with a fresh
// data folder and its built-in KMS, and stops it when the test ends.
func StartMinIO(t T, opt MinIOOptions) *S3Server {
	t.Helper()
	bin := Tool(t, "minio")
	dir := t.TempDir()
	port := FreePort(t)
	consolePort := FreePort(t)
	s := &S3Server{Name: "minio", AccessKey: "minioadmin", SecretKey: "minio-secret-key-123", t: t,
		Features: map[string]bool{FeatureSSES3: true}}
	args := []string{"server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort)}
	scheme := "http"
	if opt.TLS {
		certDir := filepath.Join(dir, "certs")
		s.CAPEM = WriteSelfSignedCert(t, certDir, "public.crt", "private.key")
		args = append(args, "--certs-dir", certDir)
		scheme = "https"
		s.Features[FeatureSSEC] = true // MinIO takes SSE-C keys over TLS only
	}
	args = append(args, filepath.Join(dir, "data"))
	env := []string{
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_KMS_SECRET_KEY=" + KMSKeyID + ":" + "MzJieXRlc2xvbmdzZWNyZXRrZXltdXN0YmVnaXZlbjE=",
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	}
	if opt.Region != "" {
		env = append(env, "MINIO_SITE_REGION="+opt.Region)
	}
	s.Endpoint = fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	runs := 0
	s.start = func() *exec.Cmd {
		runs++
		return startProcess(t, fmt.Sprintf("minio-%d", runs), bin, args, env, dir)
	}
	s.proc = s.start()
	s.waitReady(30 * time.Second)
	return s
}

// Restart kills the server (SIGKILL), keeps it down for down, and starts
// it again on the same port with the same data, as a crashed pod comes
// back. It returns when the server answers again.
func (s *S3Server) Restart(down time.Duration) {
	s.t.Helper()
	if s.start == nil {
		s.t.Fatalf("%s cannot be restarted", s.Name)
	}
	_ = s.proc.Process.Kill()
	_, _ = s.proc.Process.Wait()
	time.Sleep(down)
	s.proc = s.start()
	s.waitReady(30 * time.Second)
}

// StartVersityGW starts versitygw (from `make tools`) with its posix
// backend on a fresh folder, and stops it when the test ends.
func StartVersityGW(t T) *S3Server {
	t.Helper()
	return startVersityGW(t, false, "")
}

// StartVersityGWVersioned starts versitygw as StartVersityGW does, with a
// versioning folder, so that its buckets can have versioning and Object
// Lock.
func StartVersityGWVersioned(t T) *S3Server {
	t.Helper()
	return startVersityGW(t, true, "")
}

// StartVersityGWInRegion starts versitygw serving region, which it
// checks signatures against.
func StartVersityGWInRegion(t T, region string) *S3Server {
	t.Helper()
	return startVersityGW(t, false, region)
}

func startVersityGW(t T, versioning bool, region string) *S3Server {
	t.Helper()
	bin := Tool(t, "versitygw")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	side := filepath.Join(dir, "meta")
	versions := filepath.Join(dir, "versions")
	for _, d := range []string{root, side, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := FreePort(t)
	s := &S3Server{Name: "versitygw", AccessKey: "vgwadmin", SecretKey: "vgw-secret-key-123", t: t, Features: map[string]bool{}}
	args := []string{"--port", fmt.Sprintf("127.0.0.1:%d", port), "--access", s.AccessKey, "--secret", s.SecretKey,
		"posix", "--sidecar", side}
	if versioning {
		args = append(args, "--versioning-dir", versions)
	}
	args = append(args, root)
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	var env []string
	if region != "" {
		env = append(env, "VGW_REGION="+region)
	}
	startProcess(t, "versitygw", bin, args, env, dir)
	s.waitReady(30 * time.Second)
	return s
}

// Client is an independent S3 client (minio-go) for checking what the
// plugin wrote.
func (s *S3Server) Client() *minio.Client {
	u := strings.TrimPrefix(strings.TrimPrefix(s.Endpoint, "http://"), "https://")
	opts := &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Secure: strings.HasPrefix(s.Endpoint, "https"), Region: "us-east-1"}
	if len(s.CAPEM) > 0 {
		opts.Transport = s.transport()
	}
	c, err := minio.New(u, opts)
	if err != nil {
		s.t.Fatalf("minio client for %s: %v", s.Endpoint, err)
	}
	return c
}

// transport is an HTTP transport that trusts the server's certificate.
func (s *S3Server) transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr
}

// MakeBucket creates a bucket with a unique name and returns it.
func (s *S3Server) MakeBucket(t T) string {
	t.Helper()
	name := fmt.Sprintf("b-%d", time.Now().UnixNano())
	if err := s.Client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s on %s: %v", name, s.Name, err)
	}
	return name
}

// MakeLockedBucket creates a new bucket with Object Lock enabled (and so
// versioning), as a user would for immutable backups; mode and days, when
// set, become its default retention.
func (s *S3Server) MakeLockedBucket(t T, mode minio.RetentionMode, days uint) string {
	t.Helper()
	name := fmt.Sprintf("lock-%d", time.Now().UnixNano())
	ctx := context.Background()
	if err := s.Client().MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatalf("make lock-enabled bucket %s on %s: %v", name, s.Name, err)
	}
	if mode != "" {
		validity, unit := days, minio.Days
		if err := s.Client().SetObjectLockConfig(ctx, name, &mode, &validity, &unit); err != nil {
			t.Fatalf("set default retention %s %dd on %s/%s: %v", mode, days, s.Name, name, err)
		}
	}
	return name
}

// MakeVersionedBucket creates a new bucket with versioning on and no
// Object Lock.
func (s *S3Server) MakeVersionedBucket(t T) string {
	t.Helper()
	name := s.MakeBucket(t)
	if err := s.Client().EnableVersioning(context.Background(), name); err != nil {
		t.Fatalf("enable versioning on %s/%s: %v", s.Name, name, err)
	}
	return name
}

// CredentialsFile writes an AWS shared-credentials file for the server, as
// Velero does from a BSL's credential Secret, and returns its path.
func (s *S3Server) CredentialsFile(t T) string {
	t.Helper()
	return WriteCredentialsFile(t, "default", s.AccessKey, s.SecretKey)
}

// WriteCredentialsFile writes a shared-credentials file with one profile.
func WriteCredentialsFile(t T, profile, access, secret string) string {
	t.Helper()
	return writeCredentials(t, profile, access, secret, "")
}

// writeCredentials writes a shared-credentials file with one profile, and
// its session token when there is one.
func writeCredentials(t T, profile, access, secret, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	body := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", profile, access, secret)
	if token != "" {
		body += "aws_session_token = " + token + "\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *S3Server) waitReady(limit time.Duration) {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = s.Client().ListBuckets(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("%s at %s not ready after %s: %v", s.Name, s.Endpoint, limit, err)
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs a server until the test ends; its output goes to a
// log file that is printed when the test failed.
func startProcess(t T, name, bin string, args, env []string, dir string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
				t.Logf("%s log (last 4 KiB):\n%s", name, Tail(b, 4096))
			}
		}
	})
	return cmd
}

// Tail is the last n bytes of b, for failure messages.
func Tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
