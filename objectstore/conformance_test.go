package objectstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/objectstore"
)

// target is one object store under test: a server, and the store reached
// either directly or through Velero's plugin host.
type target struct {
	srv    *testenv.S3Server
	store  velero.ObjectStore
	bucket string
	host   *testenv.Host        // nil on the direct path
	sealed bool                 // every .gz key is stored encrypted with age
	signer *testenv.MinisignKey // every object is signed, and requireSignatures is on
}

// TestConformance runs one suite against every S3 server the project
// supports, both in-process and through Velero's plugin host loading the
// built binary.
func TestConformance(t *testing.T) {
	servers := map[string]func(testenv.T) *testenv.S3Server{
		"minio":     func(t testenv.T) *testenv.S3Server { return testenv.StartMinIO(t, testenv.MinIOOptions{}) },
		"versitygw": testenv.StartVersityGW,
	}
	names := []string{"minio", "versitygw"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			srv := servers[name](t)
			for _, path := range []string{"direct", "velero-host", "velero-host-encrypted", "velero-host-signed"} {
				t.Run(path, func(t *testing.T) {
					bucket := srv.MakeBucket(t)
					// Small parts so that multipart paths run on small data.
					cfg := storeConfig(srv, bucket, "multipartPartSize", "5Mi", "multipartConcurrency", "3")
					tg := &target{srv: srv, bucket: bucket}
					switch path {
					case "direct":
						tg.store, _ = newStore(t, srv, cfg)
					case "velero-host-encrypted": // everything holds with every .gz key sealed
						key := testenv.NewAgeKey(t)
						cfg["encryptionRecipients"], cfg["encryptionScope"], cfg["encryptionIdentityFile"] = key.Recipient, "allGzip", key.File
						tg.sealed = true
						tg.store, tg.host = hostStore(t, srv, cfg)
					case "velero-host-signed": // everything holds with every object signed and checked
						key := testenv.NewMinisignKey(t)
						cfg["signingKeyFile"], cfg["requireSignatures"] = key.File, "true"
						tg.signer = &key
						fallthrough
					default:
						tg.store, tg.host = hostStore(t, srv, cfg)
					}
					runSuite(t, tg)
				})
			}
		})
	}
}

func runSuite(t *testing.T, tg *target) {
	s, b := tg.store, tg.bucket
	ctx := context.Background()

	t.Run("small object round trip", func(t *testing.T) {
		data := jsonOf(t, randomBytes(t, 100<<10)) // a .json key: checked as JSON
		require.NoError(t, s.PutObject(b, "backups/small/small.json", stream(data)))
		assert.Equal(t, data, readAll(t, s, b, "backups/small/small.json"))
		ok, err := s.ObjectExists(b, "backups/small/small.json")
		require.NoError(t, err)
		assert.True(t, ok)
		got, err := tg.srv.Client().GetObject(ctx, b, "backups/small/small.json", minio.GetObjectOptions{})
		require.NoError(t, err)
		indep, err := io.ReadAll(got)
		require.NoError(t, err)
		assert.Equal(t, data, indep, "an independent client reads what the plugin wrote")
	})

	t.Run("multipart object of unknown size", func(t *testing.T) {
		data := randomBytes(t, 23<<20+12345) // 5 parts of 5 MiB, the last one short
		require.NoError(t, s.PutObject(b, "backups/big/big.bin", stream(data)))
		got := readAll(t, s, b, "backups/big/big.bin")
		assert.Equal(t, len(data), len(got))
		assert.Equal(t, digest(data), digest(got))
		info, err := tg.srv.Client().StatObject(ctx, b, "backups/big/big.bin", minio.StatObjectOptions{})
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), info.Size)
	})

	t.Run("gzip object checked and stored", func(t *testing.T) {
		body := gzipped(t, randomBytes(t, 12<<20))
		require.NoError(t, s.PutObject(b, "backups/gz/gz.tar.gz", stream(body)))
		assert.Equal(t, digest(body), digest(readAll(t, s, b, "backups/gz/gz.tar.gz")))
		stored := rawObject(t, tg.srv, b, "backups/gz/gz.tar.gz")
		if tg.sealed {
			assert.True(t, bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")), "stored as an age file")
		} else {
			assert.Equal(t, digest(body), digest(stored), "stored as sent")
		}
	})

	t.Run("truncated gzip is never committed", func(t *testing.T) {
		for _, size := range []int{64 << 10, 14 << 20} { // one request, and multipart
			body := gzipped(t, randomBytes(t, size))
			cut := body[:len(body)*2/3]
			key := fmt.Sprintf("backups/cut-%d/cut-%d.tar.gz", size, size)
			// Through the host, a failing reader becomes a clean EOF:
			// the plugin sees a short but "complete" stream.
			err := s.PutObject(b, key, &failingAfter{r: bytes.NewReader(cut)})
			require.Error(t, err)
			if tg.host == nil {
				assert.Contains(t, err.Error(), "read body from Velero")
			}
			assertNothingWritten(t, tg, key, 1)

			// The same cut stream ending cleanly is found by the gzip check.
			err = s.PutObject(b, key, stream(cut))
			require.Error(t, err)
			if tg.host == nil {
				assert.Contains(t, err.Error(), "truncated upload")
				assert.Contains(t, err.Error(), "gzip trailer")
			}
			assertNothingWritten(t, tg, key, 2)
		}
		if tg.host != nil {
			// Velero's host reports a bare EOF; the plugin logs the cause.
			assertLogged(t, tg.host.Logs, "error", "put object failed", "truncated upload")
		}
	})

	t.Run("non-gzip body under a .gz key is refused", func(t *testing.T) {
		err := s.PutObject(b, "backups/x/x-logs.gz", stream([]byte("plain text, not gzip")))
		require.Error(t, err)
		ok, err := s.ObjectExists(b, "backups/x/x-logs.gz")
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("truncated or malformed JSON is never committed", func(t *testing.T) {
		whole := jsonOf(t, randomBytes(t, 12<<20))
		for name, body := range map[string][]byte{
			"cut, one request": whole[:64<<10],
			"cut, multipart":   whole[:len(whole)*2/3],
			"not JSON":         []byte("plain text, not JSON"),
			"two values":       []byte(`{"a":1} {"b":2}`),
		} {
			key := "backups/j/" + strings.ReplaceAll(name, " ", "-") + ".json"
			err := s.PutObject(b, key, stream(body))
			require.Error(t, err, name)
			if tg.host == nil {
				assert.ErrorIs(t, err, objectstore.ErrTruncated, name)
			}
			assertNothingWritten(t, tg, key, 1)
		}
		require.NoError(t, s.PutObject(b, "backups/j/whole.json", stream(whole)))
		assert.Equal(t, digest(whole), digest(readAll(t, s, b, "backups/j/whole.json")))
	})

	t.Run("missing key", func(t *testing.T) {
		ok, err := s.ObjectExists(b, "backups/none/none.json")
		require.NoError(t, err)
		assert.False(t, ok)
		// Through the host the error arrives with the first read.
		rc, err := s.GetObject(b, "backups/none/none.json")
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not found")
	})

	t.Run("missing bucket is an error, not absence", func(t *testing.T) {
		ok, err := s.ObjectExists("no-such-bucket-s3csi", "k")
		require.Error(t, err)
		assert.False(t, ok)
	})

	t.Run("listing gives full prefixes and full keys", func(t *testing.T) {
		keys := []string{"lst/backups/b1/b1.tar.gz.json", "lst/backups/b2/a", "lst/backups/b2/c/d", "lst/restores/r1/x"}
		for _, k := range keys {
			require.NoError(t, s.PutObject(b, k, stream([]byte(strconv.Quote(k))))) // JSON, for the .json key
		}
		p, err := s.ListCommonPrefixes(b, "lst/backups/", "/")
		require.NoError(t, err)
		assert.Equal(t, []string{"lst/backups/b1/", "lst/backups/b2/"}, p)
		p, err = s.ListCommonPrefixes(b, "lst/", "/")
		require.NoError(t, err)
		assert.Equal(t, []string{"lst/backups/", "lst/restores/"}, p)
		objs, err := s.ListObjects(b, "lst/backups/b2/")
		require.NoError(t, err)
		sort.Strings(objs)
		assert.Equal(t, []string{"lst/backups/b2/a", "lst/backups/b2/c/d"}, objs)
		none, err := s.ListObjects(b, "lst/nothing/")
		require.NoError(t, err)
		assert.Empty(t, none)
	})

	t.Run("listing pages past 1000 keys", func(t *testing.T) {
		putMany(t, tg.srv, b, "many/", 1005)
		objs, err := s.ListObjects(b, "many/")
		require.NoError(t, err)
		assert.Len(t, objs, 1005)
		p, err := s.ListCommonPrefixes(b, "many/", "/")
		require.NoError(t, err)
		assert.Len(t, p, 1005)
	})

	t.Run("delete is idempotent", func(t *testing.T) {
		require.NoError(t, s.PutObject(b, "del/x", stream([]byte("x"))))
		require.NoError(t, s.DeleteObject(b, "del/x"))
		ok, err := s.ObjectExists(b, "del/x")
		require.NoError(t, err)
		assert.False(t, ok)
		require.NoError(t, s.DeleteObject(b, "del/x"), "deleting a missing key succeeds")
	})

	t.Run("signed URL downloads without credentials", func(t *testing.T) {
		data := []byte("backup log line\n")
		require.NoError(t, s.PutObject(b, "backups/sig/sig-logs.txt", stream(data)))
		u, err := s.CreateSignedURL(b, "backups/sig/sig-logs.txt", 10*time.Minute)
		require.NoError(t, err)
		resp, err := http.Get(u) //nolint:noctx
		require.NoError(t, err)
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, string(got))
		assert.Equal(t, data, got)
	})

	if tg.host == nil { // Velero's host sends no message for an empty body: only a direct caller can
		t.Run("empty object", func(t *testing.T) {
			require.NoError(t, s.PutObject(b, "empty/e", stream(nil)))
			ok, err := s.ObjectExists(b, "empty/e")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Empty(t, readAll(t, s, b, "empty/e"))
		})
	}

	t.Run("overwrite replaces", func(t *testing.T) {
		require.NoError(t, s.PutObject(b, "ow/k", stream([]byte("one"))))
		require.NoError(t, s.PutObject(b, "ow/k", stream([]byte("two"))))
		assert.Equal(t, []byte("two"), readAll(t, s, b, "ow/k"))
	})

	if tg.signer != nil {
		t.Run("every object's signature verifies with the minisign CLI", func(t *testing.T) {
			for _, key := range []string{"backups/small/small.json", "backups/big/big.bin", "backups/gz/gz.tar.gz", "backups/j/whole.json", "ow/k"} {
				out, err := tg.signer.Verify(t, rawObject(t, tg.srv, b, key), rawObject(t, tg.srv, b, key+".minisig"))
				require.NoError(t, err, "minisign -V of %s: %s", key, out)
				assert.Regexp(t, `Trusted comment: s3csi-v1 key=`+regexp.QuoteMeta(key)+` size=\d+ time=\d{4}-`, out)
			}
			for _, key := range []string{"del/x", "backups/x/x-logs.gz", "backups/cut-65536/cut-65536.tar.gz"} {
				_, err := tg.srv.Client().StatObject(ctx, b, key+".minisig", minio.StatObjectOptions{})
				assert.Error(t, err, "%s.minisig is left of a deleted or refused object", key)
			}
		})
	}
}

// rawObject is what S3 stores under key, read with an independent client.
func rawObject(t *testing.T, srv *testenv.S3Server, bucket, key string) []byte {
	t.Helper()
	obj, err := srv.Client().GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	return data
}

// putMany writes n tiny objects with the independent client.
func putMany(t *testing.T, srv *testenv.S3Server, bucket, prefix string, n int) {
	t.Helper()
	c := srv.Client()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := c.PutObject(context.Background(), bucket, fmt.Sprintf("%s%04d/x", prefix, i), bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// assertNothingWritten checks that the n-th refused PutObject of key left
// no object and no upload. Velero's host returns as soon as its reader
// fails, while the plugin is still reading and aborting: through the host
// it first waits for the plugin to say it is done with the key.
func assertNothingWritten(t *testing.T, tg *target, key string, n int) {
	t.Helper()
	if tg.host != nil {
		failed := func(e *logrus.Entry) bool {
			return strings.HasPrefix(e.Message, "put object failed") && e.Data["key"] == key
		}
		require.Equal(t, n, tg.host.Logs.Count(n, failed), "the plugin's PutObject of %s ended", key)
	}
	ok, err := tg.store.ObjectExists(tg.bucket, key)
	require.NoError(t, err)
	assert.False(t, ok, "nothing is visible under %s", key)
	assertNoUploads(t, tg.srv, tg.bucket, key)
}

// assertNoUploads checks that no multipart upload is left for key.
func assertNoUploads(t *testing.T, srv *testenv.S3Server, bucket, key string) {
	t.Helper()
	for u := range srv.Client().ListIncompleteUploads(context.Background(), bucket, key, true) {
		require.NoError(t, u.Err)
		assert.Failf(t, "orphaned multipart upload", "key %s upload %s", u.Key, u.UploadID)
	}
}

func assertLogged(t *testing.T, logs *testenv.LogCapture, level, msg, errHas string) {
	t.Helper()
	e := logs.Find(func(e *logrus.Entry) bool {
		return e.Level.String() == level && strings.HasPrefix(e.Message, msg) &&
			(errHas == "" || strings.Contains(fmt.Sprint(e.Data["error"]), errHas))
	})
	if e == nil {
		t.Errorf("no %s line %q with error containing %q in:\n%s", level, msg, errHas, logs.Text())
	}
}
