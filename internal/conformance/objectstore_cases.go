package conformance

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ObjectStoreCases are the ObjectStore cases, in the order they run on
// e's empty bucket: the calls a backup, Velero's backup sync, `velero
// backup logs` and a backup deletion make, and what must hold when a body
// is cut short. Every caller runs every case, but two: an empty object
// runs on the direct path only (Velero's host sends no message for an
// empty body, so no host can pass one on), and the minisign check only
// where every object is signed.
func ObjectStoreCases(e Env) []Case {
	cases := []Case{
		{"small object round trip", e.smallObject},
		{"multipart object of unknown size", e.multipartObject},
		{"gzip object checked and stored", e.gzipObject},
		{"truncated gzip is never committed", e.truncatedGzip},
		{"non-gzip body under a .gz key is refused", e.notGzip},
		{"truncated or malformed JSON is never committed", e.badJSON},
		{"missing key", e.missingKey},
		{"missing bucket is an error, not absence", e.missingBucket},
		{"listing gives full prefixes and full keys", e.listing},
		{"listing pages past 1000 keys", e.listingPages},
		{"delete is idempotent", e.deleteIdempotent},
		{"signed URL downloads without credentials", e.signedURL},
		{"overwrite replaces", e.overwrite},
	}
	if !e.ThroughHost {
		cases = append(cases, Case{"empty object", e.emptyObject})
	}
	if e.VerifySignature != nil {
		cases = append(cases, Case{"every object's signature verifies with the minisign CLI", e.signatures})
	}
	return cases
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }

func (e Env) smallObject(t T) {
	s, b := e.Store, e.Bucket
	data := jsonOf(t, randomBytes(t, 100<<10)) // a .json key: checked as JSON
	require.NoError(t, s.PutObject(b, "backups/small/small.json", Stream(data)))
	assert.Equal(t, data, readAll(t, s, b, "backups/small/small.json"))
	ok, err := s.ObjectExists(b, "backups/small/small.json")
	require.NoError(t, err)
	assert.True(t, ok)
	indep, err := e.Raw.Get("backups/small/small.json")
	require.NoError(t, err)
	assert.Equal(t, data, indep, "an independent client reads what the plugin wrote")
}

func (e Env) multipartObject(t T) {
	s, b := e.Store, e.Bucket
	data := randomBytes(t, 23<<20+12345) // 5 parts of 5 MiB, the last one short
	require.NoError(t, s.PutObject(b, "backups/big/big.bin", Stream(data)))
	got := readAll(t, s, b, "backups/big/big.bin")
	assert.Equal(t, len(data), len(got))
	assert.Equal(t, digest(data), digest(got))
	size, ok, err := e.Raw.Size("backups/big/big.bin")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(len(data)), size)
	// Through a host this also proves that the host's --log-level=debug
	// reached the plugin and that its lines reach the host.
	completed := logLine("debug", "multipart upload completed", map[string]string{"key": "backups/big/big.bin"})
	assert.Equal(t, 1, e.Logs.Count(1, completed), "one debug line \"multipart upload completed\" for backups/big/big.bin in:\n%s", e.Logs.Text())
}

func (e Env) gzipObject(t T) {
	s, b := e.Store, e.Bucket
	body := gzipped(t, randomBytes(t, 12<<20))
	require.NoError(t, s.PutObject(b, "backups/gz/gz.tar.gz", Stream(body)))
	assert.Equal(t, digest(body), digest(readAll(t, s, b, "backups/gz/gz.tar.gz")))
	stored, err := e.Raw.Get("backups/gz/gz.tar.gz")
	require.NoError(t, err)
	if e.Sealed {
		assert.True(t, bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")), "stored as an age file")
	} else {
		assert.Equal(t, digest(body), digest(stored), "stored as sent")
	}
}

func (e Env) truncatedGzip(t T) {
	s, b := e.Store, e.Bucket
	for _, size := range []int{64 << 10, 14 << 20} { // one request, and multipart
		body := gzipped(t, randomBytes(t, size))
		cut := body[:len(body)*2/3]
		key := fmt.Sprintf("backups/cut-%d/cut-%d.tar.gz", size, size)
		// Through the host, a failing reader becomes a clean EOF: the
		// plugin sees a short but "complete" stream.
		err := s.PutObject(b, key, &failingAfter{r: bytes.NewReader(cut)})
		require.Error(t, err)
		if !e.ThroughHost {
			assert.Contains(t, err.Error(), "read body from Velero")
		}
		e.nothingWritten(t, key, 1)

		// The same cut stream ending cleanly is found by the gzip check.
		err = s.PutObject(b, key, Stream(cut))
		require.Error(t, err)
		if !e.ThroughHost {
			assert.Contains(t, err.Error(), "truncated upload")
			assert.Contains(t, err.Error(), "gzip trailer")
		}
		e.nothingWritten(t, key, 2)
	}
	if e.ThroughHost {
		// Velero's host reports a bare EOF; the plugin logs the cause.
		failed := func(l Line) bool {
			return l.Level == "error" && strings.HasPrefix(l.Msg, "put object failed") && strings.Contains(l.Fields["error"], "truncated upload")
		}
		assert.Positive(t, e.Logs.Count(1, failed), "an error line \"put object failed\" with \"truncated upload\" in:\n%s", e.Logs.Text())
	}
}

func (e Env) notGzip(t T) {
	err := e.Store.PutObject(e.Bucket, "backups/x/x-logs.gz", Stream([]byte("plain text, not gzip")))
	require.Error(t, err)
	ok, err := e.Store.ObjectExists(e.Bucket, "backups/x/x-logs.gz")
	require.NoError(t, err)
	assert.False(t, ok)
}

func (e Env) badJSON(t T) {
	s, b := e.Store, e.Bucket
	whole := jsonOf(t, randomBytes(t, 12<<20))
	for name, body := range map[string][]byte{
		"cut, one request": whole[:64<<10],
		"cut, multipart":   whole[:len(whole)*2/3],
		"not JSON":         []byte("plain text, not JSON"),
		"two values":       []byte(`{"a":1} {"b":2}`),
	} {
		key := "backups/j/" + strings.ReplaceAll(name, " ", "-") + ".json"
		err := s.PutObject(b, key, Stream(body))
		require.Error(t, err, name)
		if e.Truncated != nil {
			assert.ErrorIs(t, err, e.Truncated, name)
		}
		e.nothingWritten(t, key, 1)
	}
	require.NoError(t, s.PutObject(b, "backups/j/whole.json", Stream(whole)))
	assert.Equal(t, digest(whole), digest(readAll(t, s, b, "backups/j/whole.json")))
}

func (e Env) missingKey(t T) {
	ok, err := e.Store.ObjectExists(e.Bucket, "backups/none/none.json")
	require.NoError(t, err)
	assert.False(t, ok)
	// Through the host the error arrives with the first read.
	rc, err := e.Store.GetObject(e.Bucket, "backups/none/none.json")
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not found")
}

func (e Env) missingBucket(t T) {
	ok, err := e.Store.ObjectExists("no-such-bucket-s3csi", "k")
	require.Error(t, err)
	assert.False(t, ok)
}

func (e Env) listing(t T) {
	s, b := e.Store, e.Bucket
	keys := []string{"lst/backups/b1/b1.tar.gz.json", "lst/backups/b2/a", "lst/backups/b2/c/d", "lst/restores/r1/x"}
	for _, k := range keys {
		require.NoError(t, s.PutObject(b, k, Stream([]byte(strconv.Quote(k))))) // JSON, for the .json key
	}
	p, err := s.ListCommonPrefixes(b, "lst/backups/", "/")
	require.NoError(t, err)
	assert.Equal(t, []string{"lst/backups/b1/", "lst/backups/b2/"}, p)
	p, err = s.ListCommonPrefixes(b, "lst/", "/")
	require.NoError(t, err)
	assert.Equal(t, []string{"lst/backups/", "lst/restores/"}, p)
	// At the bucket's root (a BSL without prefix), what an independent
	// client lists.
	p, err = s.ListCommonPrefixes(b, "", "/")
	require.NoError(t, err)
	want, err := e.Raw.Prefixes("")
	require.NoError(t, err)
	assert.Contains(t, want, "lst/")
	assert.Equal(t, sorted(want), sorted(p), "ListCommonPrefixes at the root")
	objs, err := s.ListObjects(b, "lst/backups/b2/")
	require.NoError(t, err)
	assert.Equal(t, []string{"lst/backups/b2/a", "lst/backups/b2/c/d"}, sorted(objs))
	none, err := s.ListObjects(b, "lst/nothing/")
	require.NoError(t, err)
	assert.Empty(t, none)
}

func (e Env) listingPages(t T) {
	e.putMany(t, "many/", 1005)
	objs, err := e.Store.ListObjects(e.Bucket, "many/")
	require.NoError(t, err)
	assert.Len(t, objs, 1005)
	p, err := e.Store.ListCommonPrefixes(e.Bucket, "many/", "/")
	require.NoError(t, err)
	assert.Len(t, p, 1005)
}

// deleteIdempotent deletes as a backup deletion removes its folder, then
// once more.
func (e Env) deleteIdempotent(t T) {
	s, b := e.Store, e.Bucket
	for _, k := range []string{"del/x", "del/b1/velero-backup.json", "del/b1/b1.tar.gz.json"} {
		require.NoError(t, s.PutObject(b, k, Stream([]byte(strconv.Quote(k)))))
		require.NoError(t, s.DeleteObject(b, k))
	}
	ok, err := s.ObjectExists(b, "del/x")
	require.NoError(t, err)
	assert.False(t, ok)
	left, err := s.ListObjects(b, "del/")
	require.NoError(t, err)
	assert.Empty(t, left, "ListObjects(del/) after the deletes")
	require.NoError(t, s.DeleteObject(b, "del/x"), "deleting a missing key succeeds")
}

// signedURL fetches signed URLs over HTTP without credentials, as `velero
// backup logs` downloads: a small log and a 12 MiB gzip body. A signed
// URL serves what S3 stores (an age file, when sealed).
func (e Env) signedURL(t T) {
	data := []byte("backup log line\n")
	require.NoError(t, e.Store.PutObject(e.Bucket, "backups/sig/sig-logs.txt", Stream(data)))
	for _, key := range []string{"backups/sig/sig-logs.txt", "backups/gz/gz.tar.gz"} {
		u, err := e.Store.CreateSignedURL(e.Bucket, key, signedURLTTL)
		require.NoError(t, err, key)
		client := &http.Client{Timeout: time.Minute}
		resp, err := client.Get(u) //nolint:noctx // a bounded client, one request
		require.NoError(t, err, key)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, key)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %.300s", key, got)
		stored, err := e.Raw.Get(key)
		require.NoError(t, err, key)
		assert.Equal(t, digest(stored), digest(got), "%s: the signed URL serves what S3 stores", key)
	}
	got, err := e.Raw.Get("backups/sig/sig-logs.txt")
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

func (e Env) emptyObject(t T) {
	require.NoError(t, e.Store.PutObject(e.Bucket, "empty/e", Stream(nil)))
	ok, err := e.Store.ObjectExists(e.Bucket, "empty/e")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Empty(t, readAll(t, e.Store, e.Bucket, "empty/e"))
}

func (e Env) overwrite(t T) {
	require.NoError(t, e.Store.PutObject(e.Bucket, "ow/k", Stream([]byte("one"))))
	require.NoError(t, e.Store.PutObject(e.Bucket, "ow/k", Stream([]byte("two"))))
	assert.Equal(t, []byte("two"), readAll(t, e.Store, e.Bucket, "ow/k"))
}

// signatures checks, with the minisign CLI, the objects the cases before
// wrote, and that a deleted or refused object left no signature.
func (e Env) signatures(t T) {
	for _, key := range []string{"backups/small/small.json", "backups/big/big.bin", "backups/gz/gz.tar.gz", "backups/j/whole.json", "ow/k"} {
		data, err := e.Raw.Get(key)
		require.NoError(t, err, key)
		sig, err := e.Raw.Get(key + ".minisig")
		require.NoError(t, err, key+".minisig")
		out, err := e.VerifySignature(data, sig)
		require.NoError(t, err, "minisign -V of %s: %s", key, out)
		assert.Regexp(t, `Trusted comment: s3csi-v1 key=`+regexp.QuoteMeta(key)+` size=\d+ time=\d{4}-`, out)
	}
	for _, key := range []string{"del/x", "backups/x/x-logs.gz", "backups/cut-65536/cut-65536.tar.gz"} {
		_, ok, err := e.Raw.Size(key + ".minisig")
		require.NoError(t, err)
		assert.False(t, ok, "%s.minisig is left of a deleted or refused object", key)
	}
}

// nothingWritten checks that the n-th refused PutObject of key left no
// object and no upload. Velero's host returns as soon as its reader
// fails, while the plugin is still reading and aborting: through the host
// it first waits for the plugin to say it is done with the key.
func (e Env) nothingWritten(t T, key string, n int) {
	t.Helper()
	if e.ThroughHost {
		failed := func(l Line) bool { return strings.HasPrefix(l.Msg, "put object failed") && l.Fields["key"] == key }
		require.Equal(t, n, e.Logs.Count(n, failed), "the plugin's PutObject of %s ended", key)
	}
	ok, err := e.Store.ObjectExists(e.Bucket, key)
	require.NoError(t, err)
	assert.False(t, ok, "nothing is visible under %s", key)
	uploads, err := e.Raw.Uploads(key)
	require.NoError(t, err)
	assert.Empty(t, uploads, "orphaned multipart uploads of %s", key)
}

// putMany writes n tiny objects with the independent client, 16 at once.
func (e Env) putMany(t T, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := e.Raw.Put(fmt.Sprintf("%s%04d/x", prefix, i), []byte("x")); err != nil {
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
