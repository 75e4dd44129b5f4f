package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

func startMinIO(t *testing.T) *testenv.S3Server {
	t.Helper()
	return testenv.StartMinIO(t, testenv.MinIOOptions{})
}

// requestHeaders asserts what every request to a custom s3Url looks like.
func requestHeaders(t *testing.T, reqs []testenv.Request, checksumHeader string) {
	t.Helper()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		kind := r.Kind()
		assert.NotContains(t, r.Header.Get("Content-Encoding"), "aws-chunked", "%s", kind)
		assert.Empty(t, r.Header.Get("X-Amz-Trailer"), "%s has a trailing checksum", kind)
		assert.Empty(t, r.Header.Get("X-Amz-Decoded-Content-Length"), "%s", kind)
		assert.NotEmpty(t, r.Header.Get("X-Amz-Content-Sha256"), "%s lacks x-amz-content-sha256", kind)
		for name, vals := range r.Header {
			for _, v := range vals {
				assert.NotEmpty(t, v, "%s sends an empty %s header", kind, name)
			}
			if checksumHeader == "" {
				assert.False(t, strings.HasPrefix(name, "X-Amz-Checksum-") || name == "X-Amz-Sdk-Checksum-Algorithm" || name == "Content-Md5",
					"%s sends %s though no checksum was asked for", kind, name)
			}
		}
		if checksumHeader != "" && (kind == "PutObject" || kind == "UploadPart") {
			assert.NotEmpty(t, r.Header.Get(checksumHeader), "%s lacks %s", kind, checksumHeader)
		}
	}
}

func TestHeadersToCustomEndpoint(t *testing.T) {
	srv := startMinIO(t)
	algs := map[string]string{
		"":          "",
		"MD5":       "Content-Md5",
		"CRC32":     "X-Amz-Checksum-Crc32",
		"CRC32C":    "X-Amz-Checksum-Crc32c",
		"CRC64NVME": "X-Amz-Checksum-Crc64nvme",
		"SHA1":      "X-Amz-Checksum-Sha1",
		"SHA256":    "X-Amz-Checksum-Sha256",
	}
	for alg, header := range algs {
		t.Run("checksum="+alg, func(t *testing.T) {
			proxy := testenv.StartProxy(t, srv.Endpoint)
			bucket := srv.MakeBucket(t)
			cfg := map[string]string{"bucket": bucket, "s3Url": proxy.URL, "multipartPartSize": "5Mi"}
			if alg != "" {
				cfg["checksumAlgorithm"] = alg
			}
			s, _ := newStore(t, srv, cfg)
			small, big := randomBytes(t, 1000), randomBytes(t, 11<<20)
			require.NoError(t, s.PutObject(bucket, "small", stream(small)))
			require.NoError(t, s.PutObject(bucket, "big", stream(big)))
			assert.Equal(t, small, readAll(t, s, bucket, "small"))
			assert.Equal(t, digest(big), digest(readAll(t, s, bucket, "big")))
			_, err := s.ListCommonPrefixes(bucket, "", "/")
			require.NoError(t, err)
			_, err = s.ObjectExists(bucket, "small")
			require.NoError(t, err)
			require.NoError(t, s.DeleteObject(bucket, "small"))
			reqs := proxy.Requests()
			kinds := map[string]int{}
			for _, r := range reqs {
				kinds[r.Kind()]++
			}
			assert.Equal(t, 1, kinds["PutObject"])
			assert.Equal(t, 3, kinds["UploadPart"])
			assert.Equal(t, 1, kinds["CompleteMultipartUpload"])
			requestHeaders(t, reqs, header)
		})
	}
}

func TestBadCredentialsFailFast(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	cfg := map[string]string{"bucket": bucket, "s3Url": proxy.URL,
		"credentialsFile": testenv.WriteCredentialsFile(t, "default", srv.AccessKey, "wrong-secret")}
	s, _ := newStore(t, srv, cfg)
	proxy.Reset() // Init's look at the bucket's Object Lock, refused and ignored

	err := s.PutObject(bucket, "k", stream([]byte("x")))
	require.Error(t, err)
	assert.ErrorIs(t, err, objectstore.ErrAccessDenied)
	assert.Len(t, proxy.Requests(), 1, "a permanent error is not retried")

	// The process's first listing also runs the stale-upload sweep beside
	// it: one ListMultipartUploads, refused as well. Neither is retried.
	proxy.Reset()
	_, err = s.ListCommonPrefixes(bucket, "", "/")
	assert.ErrorIs(t, err, objectstore.ErrAccessDenied)
	kinds := map[string]int{}
	for _, r := range proxy.Requests() {
		kinds[r.Kind()]++
	}
	assert.Equal(t, map[string]int{"ListObjects": 1, "ListMultipartUploads": 1}, kinds, "a permanent error is not retried")
	assert.NotContains(t, err.Error(), "wrong-secret")
}

func TestFailedPartAbortsUpload(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	proxy.SetFail(func(r *http.Request) bool { return r.URL.Query().Get("partNumber") == "3" })
	s, logs := newStore(t, srv, map[string]string{"bucket": bucket, "s3Url": proxy.URL, "multipartPartSize": "5Mi"})

	err := s.PutObject(bucket, "backups/b/b.tar.gz", stream(gzipped(t, randomBytes(t, 30<<20))))
	require.Error(t, err)
	assert.ErrorIs(t, err, objectstore.ErrAccessDenied)
	assert.Contains(t, err.Error(), "upload part 3 of "+bucket+"/backups/b/b.tar.gz")
	aborts := 0
	for _, r := range proxy.Requests() {
		if r.Kind() == "AbortMultipartUpload" {
			aborts++
		}
		assert.NotEqual(t, "CompleteMultipartUpload", r.Kind())
	}
	assert.Equal(t, 1, aborts)
	ok, err := s.ObjectExists(bucket, "backups/b/b.tar.gz")
	require.NoError(t, err)
	assert.False(t, ok)
	assertNoUploads(t, srv, bucket, "backups/b/b.tar.gz")
	assertLogged(t, logs, "error", "put object failed", "upload part 3")
	assert.Zero(t, goroutinesIn("objectstore.newStreamCheck"), "the gzip check of the failed upload ended")
}

// goroutinesIn counts goroutines with fn on their stack, waiting up to 5 s
// for them to end.
func goroutinesIn(fn string) int {
	n := 0
	for i := 0; i < 50; i++ {
		buf := make([]byte, 1<<20)
		n = strings.Count(string(buf[:runtime.Stack(buf, true)]), fn)
		if n == 0 {
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}

func TestBrokenDownloadResumes(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	data := randomBytes(t, 10<<20)
	_, err := srv.Client().PutObject(context.Background(), bucket, "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	require.NoError(t, err)

	t.Run("cut once: resumed with a range, same bytes", func(t *testing.T) {
		s, _ := newStore(t, srv, map[string]string{"bucket": bucket, "s3Url": proxy.URL, "maxRetries": "2"})
		proxy.Reset()
		proxy.CutAfter.Store(3 << 20)
		proxy.CutGets.Store(1)
		got := readAll(t, s, bucket, "obj")
		assert.Equal(t, digest(data), digest(got))
		var gets []testenv.Request
		for _, r := range proxy.Requests() {
			if r.Kind() == "GetObject" {
				gets = append(gets, r)
			}
		}
		require.Len(t, gets, 2)
		assert.True(t, strings.HasPrefix(gets[1].Header.Get("Range"), "bytes="), gets[1].Header.Get("Range"))
		assert.NotEmpty(t, gets[1].Header.Get("If-Match"), "a resume reads the same object version")
	})

	t.Run("cut every time: an error, never a short body", func(t *testing.T) {
		s, _ := newStore(t, srv, map[string]string{"bucket": bucket, "s3Url": proxy.URL, "maxRetries": "1"})
		proxy.CutAfter.Store(1 << 20)
		proxy.CutGets.Store(100)
		rc, err := s.GetObject(bucket, "obj")
		require.NoError(t, err)
		defer rc.Close()
		got, err := io.ReadAll(rc)
		require.Error(t, err)
		assert.Less(t, len(got), len(data))
		proxy.CutGets.Store(0)
	})
}

func TestStalledTransferFails(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	cfg := map[string]string{"bucket": bucket, "s3Url": proxy.URL, "multipartPartSize": "5Mi", "stallTimeout": "1s", "maxRetries": "0"}
	s, _ := newStore(t, srv, cfg)

	t.Run("upload", func(t *testing.T) {
		proxy.SetBlock(func(r *http.Request) bool { return r.URL.Query().Get("partNumber") == "2" })
		defer proxy.SetBlock(nil)
		err := s.PutObject(bucket, "stall", stream(randomBytes(t, 12<<20)))
		require.Error(t, err)
		assert.ErrorIs(t, err, objectstore.ErrStalled)
		assertNoUploads(t, srv, bucket, "stall")
	})
	t.Run("download", func(t *testing.T) {
		require.NoError(t, s.PutObject(bucket, "small", stream([]byte("abc"))))
		proxy.SetBlock(func(r *http.Request) bool { return r.Method == http.MethodGet })
		defer proxy.SetBlock(nil)
		rc, err := s.GetObject(bucket, "small")
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		require.Error(t, err)
		assert.ErrorIs(t, err, objectstore.ErrStalled)
	})
	t.Run("download stalls mid-way: an error, never a short body", func(t *testing.T) {
		data := randomBytes(t, 6<<20)
		require.NoError(t, s.PutObject(bucket, "midway", stream(data)))
		proxy.HangAfter.Store(2 << 20)
		defer proxy.HangAfter.Store(0)
		rc, err := s.GetObject(bucket, "midway")
		require.NoError(t, err)
		defer rc.Close()
		got, err := io.ReadAll(rc)
		require.Error(t, err, "read %d of %d bytes", len(got), len(data))
		assert.ErrorIs(t, err, objectstore.ErrStalled)
		assert.Less(t, len(got), len(data))
	})
	t.Run("Velero stops sending", func(t *testing.T) {
		// Parts larger than what arrives, so no S3 request races the stall.
		big, _ := newStore(t, srv, map[string]string{"bucket": bucket, "s3Url": proxy.URL, "multipartPartSize": "16Mi", "stallTimeout": "1s", "maxRetries": "0"})
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write(randomBytes(t, 7<<20)) }() // then silence
		err := big.PutObject(bucket, "silent", pr)
		require.Error(t, err)
		assert.ErrorIs(t, err, objectstore.ErrStalled)
		assert.Contains(t, err.Error(), "reading the object from Velero")
		assertNoUploads(t, srv, bucket, "silent")
		pw.Close()
	})
}

func TestSignedURLUsesPublicURL(t *testing.T) {
	srv := startMinIO(t)
	public := testenv.StartProxy(t, srv.Endpoint) // stands for the address users reach
	bucket := srv.MakeBucket(t)
	s, logs := newStore(t, srv, storeConfig(srv, bucket, "publicUrl", public.URL))
	require.NoError(t, s.PutObject(bucket, "backups/b/b-logs.gz", stream(gzipped(t, []byte("log line")))))
	u, err := s.CreateSignedURL(bucket, "backups/b/b-logs.gz", 10*time.Minute)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u, public.URL+"/"+bucket+"/"), u)
	resp, err := http.Get(u) //nolint:noctx
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, public.Requests(), 1, "the download went through the public address")
	assert.NotContains(t, logs.Text(), "X-Amz-Signature")
	_, err = s.CreateSignedURL(bucket, "k", 0)
	assert.Error(t, err)
}

func TestCredentials(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	put := func(t *testing.T, cfg map[string]string) error {
		t.Helper()
		s := objectstore.New(testenv.NewLogCapture(0).Logger, kube.New())
		if err := s.Init(cfg); err != nil {
			return err
		}
		return s.PutObject(bucket, "cred", stream([]byte("x")))
	}
	t.Run("credentialsFile wins over AWS_* variables", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "env-key")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
		require.NoError(t, put(t, storeConfig(srv, bucket, "credentialsFile", srv.CredentialsFile(t))))
	})
	t.Run("named profile", func(t *testing.T) {
		f := testenv.WriteCredentialsFile(t, "backup", srv.AccessKey, srv.SecretKey)
		require.NoError(t, put(t, storeConfig(srv, bucket, "credentialsFile", f, "profile", "backup")))
		err := put(t, storeConfig(srv, bucket, "credentialsFile", f, "profile", "nope"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `has no profile [nope] (it has [backup])`)
	})
	t.Run("no credentialsFile: the default chain", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		require.NoError(t, put(t, storeConfig(srv, bucket)))
	})
	t.Run("Init names a bad key", func(t *testing.T) {
		err := put(t, storeConfig(srv, bucket, "s3url", "http://x"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown key "s3url"`)
	})
}

// Through Velero's host: progress lines arrive while a long upload runs,
// and no line carries a secret.
func TestHostLogs(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	s, h := hostStore(t, srv, storeConfig(srv, bucket, "progressInterval", "100ms", "multipartPartSize", "5Mi"))

	body := &waitForLog{r: bytes.NewReader(randomBytes(t, 12<<20)), after: 6 << 20, logs: h.Logs, msg: "upload in progress"}
	require.NoError(t, s.PutObject(bucket, "backups/p/p.tar", body))
	require.True(t, body.seen, "no progress line while the upload was held")
	found := false
	for _, e := range h.Logs.Entries() {
		if e.Message == "upload in progress" {
			found = true
			assert.Equal(t, "info", e.Level.String())
			assert.Equal(t, "backups/p/p.tar", e.Data["key"])
			assert.NotNil(t, e.Data["bytes"])
		}
	}
	assert.True(t, found)
	_, err := s.CreateSignedURL(bucket, "backups/p/p.tar", time.Minute)
	require.NoError(t, err)
	text := h.Logs.Text()
	assert.NotContains(t, text, srv.SecretKey)
	assert.NotContains(t, text, "X-Amz-Signature")
	assert.NotEmpty(t, text)

	again, err := h.Manager.GetObjectStore("example.io/s3compat")
	require.NoError(t, err)
	err = again.Init(map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "multipartPartSize": "12XB"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid value for "multipartPartSize" in BSL config: "12XB" is not a size`)
}

// waitForLog hands out bytes up to after, then holds until msg is logged.
type waitForLog struct {
	r     *bytes.Reader
	after int64
	logs  *testenv.LogCapture
	msg   string
	read  int64
	seen  bool
}

func (w *waitForLog) Read(p []byte) (int, error) {
	if w.read >= w.after && !w.seen {
		for i := 0; i < 300 && !w.seen; i++ {
			for _, e := range w.logs.Entries() {
				w.seen = w.seen || e.Message == w.msg
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !w.seen {
			return 0, errors.New("no progress line within 30s")
		}
	}
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	n, err := w.r.Read(p)
	w.read += int64(n)
	return n, err
}

// A missing key's HEAD 404 looks like a missing bucket's, so ObjectExists
// asks for the bucket too, but not again while the bucket was seen
// moments ago: Velero checks several keys in a row, most of them
// missing. A bucket never seen is still asked for, and missing is an error.
func TestObjectExistsAsksForTheBucketOnce(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	s, _ := newStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL))
	require.NoError(t, s.PutObject(bucket, "backups/b/velero-backup.json", stream([]byte(`{}`))))
	proxy.Reset()
	for _, key := range []string{"backups/a/velero-backup.json", "backups/b/b-csi-volumesnapshots.json.gz", "backups/b/b-volumesnapshots.json.gz"} {
		ok, err := s.ObjectExists(bucket, key)
		require.NoError(t, err)
		assert.False(t, ok, key)
	}
	ok, err := s.ObjectExists(bucket, "backups/b/velero-backup.json")
	require.NoError(t, err)
	assert.True(t, ok)
	kinds := map[string]int{}
	for _, r := range proxy.Requests() {
		kinds[r.Kind()]++
	}
	assert.Equal(t, map[string]int{"HeadObject": 4, "HeadBucket": 1}, kinds, "one HeadBucket for three missing keys")

	_, err = s.ObjectExists("no-such-bucket-s3csi", "k")
	assert.ErrorIs(t, err, objectstore.ErrNoSuchBucket, "a bucket never seen is asked for")
}
