package cases

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"slices"
	"time"
)

// objectStoreName is the plugin's ObjectStore.
const objectStoreName = "example.io/s3compat"

// objectStore runs the conformance cases in the order a backup, Velero's
// backup sync, `velero backup logs` and a backup deletion make them.
func objectStore(h Host, cfg Config, logs *Logs) (c Cell) {
	s, err := h.ObjectStore(objectStoreName)
	if err != nil {
		c.fail("get ObjectStore %s: %v", objectStoreName, err)
		return c
	}
	// The BSL config as Velero hands it over (it adds bucket, prefix and
	// credentialsFile); small parts so that the multi-MiB body is a
	// multipart upload.
	bsl := map[string]string{"bucket": cfg.Bucket, "prefix": "", "s3Url": cfg.S3URL,
		"credentialsFile": cfg.CredentialsFile, "multipartPartSize": "5Mi"}
	if err := s.Init(bsl); err != nil {
		c.fail("Init: %v", err)
		return c
	}
	b := cfg.Bucket

	// PutObject and GetObject: a small JSON object and a 13 MiB gzip body
	// (three 5 MiB parts, the last one short), as Velero writes a backup.
	meta := []byte(`{"kind":"Backup","metadata":{"name":"b1"}}`)
	big, err := gzipOf(13<<20 + 12345)
	if err != nil {
		c.fail("make body: %v", err)
		return c
	}
	objects := map[string][]byte{
		"backups/b1/velero-backup.json": meta,
		"backups/b1/b1.tar.gz":          big,
		"backups/b2/velero-backup.json": meta,
		"restores/r1/r1-logs.gz":        mustGzip(c.fail, []byte("restore log line\n")),
	}
	for _, key := range sortedKeys(objects) {
		if err := s.PutObject(b, key, bytes.NewReader(objects[key])); err != nil {
			c.fail("PutObject %s (%d bytes): %v", key, len(objects[key]), err)
			return c
		}
	}
	for _, key := range sortedKeys(objects) {
		rc, err := s.GetObject(b, key)
		if err != nil {
			c.fail("GetObject %s: %v", key, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			c.fail("GetObject %s: read: %v", key, err)
		} else if !bytes.Equal(got, objects[key]) {
			c.fail("GetObject %s: %d bytes, sha256 %x; PutObject wrote %d bytes, sha256 %x", key, len(got), sha256.Sum256(got), len(objects[key]), sha256.Sum256(objects[key]))
		}
	}
	// The host's --log-level reached the plugin: its debug line about the
	// multipart body arrived through the host's logger.
	if logs.find(line("debug", "multipart upload completed", map[string]string{"key": "backups/b1/b1.tar.gz"})) == nil {
		c.fail("no debug line \"multipart upload completed\" for backups/b1/b1.tar.gz from the plugin in the host's log: --log-level=debug did not reach the plugin, or its lines do not reach the host")
	}
	if rc, err := s.GetObject(b, "backups/none/velero-backup.json"); err == nil {
		_, err = io.ReadAll(rc) // through the host the error comes with the first read
		rc.Close()
		if err == nil {
			c.fail("GetObject of a missing key: no error")
		}
	}

	// ObjectExists.
	for key, want := range map[string]bool{"backups/b1/b1.tar.gz": true, "backups/b1/none.json": false} {
		if ok, err := s.ObjectExists(b, key); err != nil || ok != want {
			c.fail("ObjectExists %s = %v, %v; want %v", key, ok, err, want)
		}
	}

	// ListCommonPrefixes (full prefixes) and ListObjects (full keys), as
	// the backup sync lists.
	listCheck(&c, "ListCommonPrefixes(backups/, /)", []string{"backups/b1/", "backups/b2/"})(s.ListCommonPrefixes(b, "backups/", "/"))
	listCheck(&c, "ListCommonPrefixes(\"\", /)", []string{"backups/", "restores/"})(s.ListCommonPrefixes(b, "", "/"))
	listCheck(&c, "ListObjects(backups/b1/)", []string{"backups/b1/b1.tar.gz", "backups/b1/velero-backup.json"})(s.ListObjects(b, "backups/b1/"))
	listCheck(&c, "ListObjects(nothing/)", nil)(s.ListObjects(b, "nothing/"))

	// CreateSignedURL, fetched over HTTP without credentials, as `velero
	// backup logs` downloads.
	for _, key := range []string{"restores/r1/r1-logs.gz", "backups/b1/b1.tar.gz"} {
		u, err := s.CreateSignedURL(b, key, 10*time.Minute)
		if err != nil {
			c.fail("CreateSignedURL %s: %v", key, err)
			continue
		}
		got, status, err := httpGet(u)
		if err != nil || status != http.StatusOK || !bytes.Equal(got, objects[key]) {
			c.fail("GET of the signed URL of %s: status %d, %d bytes (want %d), %v", key, status, len(got), len(objects[key]), err)
		}
	}

	// DeleteObject, idempotent, as a backup deletion removes its folder.
	for _, key := range sortedKeys(objects) {
		if err := s.DeleteObject(b, key); err != nil {
			c.fail("DeleteObject %s: %v", key, err)
		}
	}
	if err := s.DeleteObject(b, "backups/b1/b1.tar.gz"); err != nil {
		c.fail("DeleteObject of a deleted key: %v (deletes are idempotent)", err)
	}
	listCheck(&c, "ListObjects(backups/) after the deletes", nil)(s.ListObjects(b, "backups/"))
	return c
}

// listCheck compares a listing with want, in any order.
func listCheck(c *Cell, what string, want []string) func([]string, error) {
	return func(got []string, err error) {
		if err != nil {
			c.fail("%s: %v", what, err)
			return
		}
		got = slices.Clone(got)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			c.fail("%s = %q, want %q", what, got, want)
		}
	}
}

func httpGet(u string) ([]byte, int, error) {
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Get(u) //nolint:noctx // a bounded client, one request
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// gzipOf is a gzip stream of n random (incompressible) bytes.
func gzipOf(n int) ([]byte, error) {
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustGzip(fail func(string, ...any), data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		fail("gzip: %v", err)
	}
	return buf.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
