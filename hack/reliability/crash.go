package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

const pluginBinary = "velero-plugin-s3csi"

// waitForKind waits until the proxy has seen a request of kind.
func (e *s3env) waitForKind(kind string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, q := range e.proxy.Requests() {
			if q.Kind() == kind {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.s.Fatalf("no %s request within a minute", kind)
}

// killMidUpload kills the plugin process (kill -9) while it uploads key
// with st; no object may appear (counted into r). It returns how many
// multipart uploads the kill left in the bucket.
func (e *s3env) killMidUpload(r *row, key string) int {
	st := e.store()
	e.proxy.Reset()
	e.proxy.SetBandwidth(8 << 20)
	done := make(chan error, 1)
	go func() { done <- st.PutObject(e.bucket, key, bytes.NewReader(e.bodies[0])) }()
	e.waitForKind("UploadPart")
	pid := testenv.PluginPID(pluginBinary)
	if pid == 0 {
		e.s.Fatal("no plugin process to kill")
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	err := <-done
	e.proxy.SetBandwidth(0)
	if _, readErr := e.independentRead(key); err != nil && readErr != nil {
		r.failedCleanly++
	} else {
		r.corrupt++
	}
	// Velero's server would start a new plugin process at its next call;
	// go-plugin in this harness does not notice the death (its stderr
	// reader never ends), so a new host starts a new one.
	e.newHost()
	return e.incompleteUploads()
}

// killThenAvailabilityCheck kills the plugin mid-upload: the upload it
// left must be gone after the first availability check (Velero's
// ListCommonPrefixes of the BSL's root, in a plugin process of its own)
// once older than staleUploadAge (5s here; 72h by default).
func (e *s3env) killThenAvailabilityCheck() *row {
	r := &row{name: "kill -9 mid-upload, then availability check", attempted: 1}
	left := e.killMidUpload(r, "rel/backups/killed/killed.tar.gz")
	killed := time.Now()
	young := e.store("staleUploadAge", "5s")
	if _, err := young.ListCommonPrefixes(e.bucket, "rel/", "/"); err != nil {
		e.s.Fatalf("availability check: %v", err)
	}
	keptYoung := e.incompleteUploads()
	time.Sleep(time.Until(killed.Add(6 * time.Second)))
	// The reconcile ends: Velero cleans up its plugin process (and so
	// only one runs, the one the next scenario kills); the next check is
	// another reconcile, with a new one.
	e.host.Manager.CleanupClients()
	e.newHost()
	if _, err := e.store("staleUploadAge", "5s").ListCommonPrefixes(e.bucket, "rel/", "/"); err != nil {
		e.s.Fatalf("availability check: %v", err)
	}
	r.orphanUploads = e.incompleteUploads()
	if left == 0 || keptYoung != left {
		r.corrupt++ // the scenario proved nothing, or a young upload was aborted
	}
	r.note = fmt.Sprintf("the kill left %d multipart upload(s); the availability check right after kept %d (younger than staleUploadAge 5s), the one after 6 s aborted them (%d left)",
		left, keptYoung, r.orphanUploads)
	return r
}

// killThenBackupDeletion kills the plugin while it uploads a backup's
// tarball, after its log and velero-backup.json: Velero's deletion of
// that backup (ListObjects of its folder, DeleteObject of each key)
// must leave no upload behind, however young.
func (e *s3env) killThenBackupDeletion() *row {
	r := &row{name: "kill -9 mid-upload, then backup deletion", attempted: 1}
	dir := "rel/backups/killed2/"
	st := e.store()
	for _, k := range []string{"killed2-logs.gz", "velero-backup.json"} {
		body := gzipOf(e.s, randomStream(7, 4<<10))
		if k == "velero-backup.json" {
			body = []byte(`{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"killed2"},"status":{"phase":"InProgress"}}`)
		}
		if err := st.PutObject(e.bucket, dir+k, bytes.NewReader(body)); err != nil {
			e.s.Fatalf("put %s: %v", k, err)
		}
	}
	left := e.killMidUpload(r, dir+"killed2.tar.gz")
	del := e.store() // staleUploadAge 72h: only the deletion can abort it
	keys, err := del.ListObjects(e.bucket, dir)
	if err != nil {
		e.s.Fatalf("list %s: %v", dir, err)
	}
	for _, k := range keys {
		if err := del.DeleteObject(e.bucket, k); err != nil {
			e.s.Fatalf("delete %s: %v", k, err)
		}
	}
	r.orphanUploads = e.incompleteUploads()
	if left == 0 || len(keys) != 2 {
		r.corrupt++ // the scenario proved nothing
	}
	r.note = fmt.Sprintf("the kill left %d multipart upload(s) and %d objects (the log and velero-backup.json, as Velero leaves a backup whose plugin died); deleting the backup's objects aborted them at once (%d left)",
		left, len(keys), r.orphanUploads)
	return r
}

// restartMinIOMidUpload kills MinIO during a 256 MiB upload and starts it
// again after 5 s, on the same port and data: the upload must go on.
func (e *s3env) restartMinIOMidUpload() *row {
	r := &row{name: "MinIO killed and restarted (5 s) mid-upload", attempted: 1}
	st := e.store()
	e.proxy.Reset()
	e.proxy.SetBandwidth(32 << 20)
	body := gzipOf(e.s, randomStream(99, 256<<20))
	key := "rel/backups/restart/restart.tar.gz"
	before := e.retries()
	done := make(chan error, 1)
	go func() { done <- st.PutObject(e.bucket, key, bytes.NewReader(body)) }()
	e.waitForKind("UploadPart")
	time.Sleep(time.Second)
	down := time.Now()
	e.srv.Restart(5 * time.Second)
	back := time.Since(down)
	var err error
	if !within(func() { err = <-done }) {
		r.hung++
	}
	e.proxy.SetBandwidth(0)
	e.judgeUpload(r, key, body, err, e.retries() > before)
	r.orphanUploads = e.incompleteUploads()
	r.note = fmt.Sprintf("MinIO answered again %s after the kill", back.Round(100*time.Millisecond))
	if err != nil {
		r.note += fmt.Sprintf("; the upload failed: %v", err)
	}
	return r
}

// failAfter is a body whose reader fails after n bytes: Velero's host
// turns that into a clean end of stream, so the plugin sees a short body.
type failAfter struct {
	r io.Reader
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("the backup's writer failed")
	}
	return n, err
}

// truncatedStreams sends half of a .gz, a .json and a plain object.
func (e *s3env) truncatedStreams() *row {
	r := &row{name: "truncated streams: .gz, .json, plain key"}
	st := e.store()
	json := []byte(`{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"b"},"spec":{"includedNamespaces":["*"]},"status":{"phase":"Completed"}}`)
	for _, o := range []struct {
		key   string
		body  []byte
		plain bool
	}{
		{"rel/backups/trunc/trunc.tar.gz", e.bodies[2], false},
		{"rel/backups/trunc/velero-backup.json", json, false},
		{"rel/metadata/revision", []byte("9c7f6d1e-5a0b-4c1e-8f1d-2b3a4c5d6e7f\n"), true},
	} {
		r.attempted++
		half := o.body[:len(o.body)/2]
		err := st.PutObject(e.bucket, o.key, &failAfter{r: bytes.NewReader(half)})
		// The host half-closes the stream and returns the reader's error at
		// once, without waiting for the plugin's answer: the plugin sees a
		// clean end of stream and may still commit. Wait for that.
		got, readErr := e.independentRead(o.key)
		for deadline := time.Now().Add(10 * time.Second); readErr != nil && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			got, readErr = e.independentRead(o.key)
		}
		switch {
		case err != nil && readErr != nil:
			r.failedCleanly++
		case o.plain && readErr == nil && sha256.Sum256(got) == sha256.Sum256(half):
			r.undetectable++
		default:
			r.corrupt++
			r.note += fmt.Sprintf("%s: %d of %d bytes stored (put: %v); ", o.key, len(got), len(o.body), err)
		}
	}
	r.note += fmt.Sprintf("the .gz and .json bodies were refused; %d truncated body under a plain key was stored as sent, which no plugin can detect: the host ends a failed stream as a clean EOF and returns the error without waiting (docs/reliability.md)", r.undetectable)
	return r
}

// concurrent runs n uploads of size at once through one plugin process,
// and reports its peak RSS.
func (e *s3env) concurrent(n int, size int64) *row {
	r := &row{name: fmt.Sprintf("%d concurrent uploads of %d MiB, one process", n, size>>20), attempted: n}
	e.proxy.Reset()
	stores := make([]interface {
		PutObject(string, string, io.Reader) error
	}, n)
	for i := range stores {
		stores[i] = e.store()
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stores[i].PutObject(e.bucket, fmt.Sprintf("rel/backups/conc-%d/data", i), randomStream(uint64(100+i), size))
		}()
	}
	if !within(wg.Wait) {
		r.hung = n
		return r
	}
	for i, err := range errs {
		key := fmt.Sprintf("rel/backups/conc-%d/data", i)
		want := sha256.New()
		_, _ = io.Copy(want, randomStream(uint64(100+i), size))
		got, readErr := e.independentRead(key)
		switch {
		case err != nil && readErr != nil:
			r.failedCleanly++
		case err == nil && readErr == nil && bytes.Equal(sha256Of(got), want.Sum(nil)):
			r.verified++
		default:
			r.corrupt++
		}
	}
	r.orphanUploads = e.incompleteUploads()
	r.note = fmt.Sprintf("plugin process peak RSS %d MiB", testenv.PeakRSS(testenv.PluginPID(pluginBinary))>>20)
	return r
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

type canaryResult struct{ lines, hits int }

// canaryHits looks for the credentials and a signed URL's signature in
// every line the host logged at debug level.
func (e *s3env) canaryHits() canaryResult {
	st := e.store()
	signed, err := st.CreateSignedURL(e.bucket, "rel/backups/up-0/up-0.tar.gz", 10*time.Minute)
	if err != nil {
		e.s.Fatal(err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		e.s.Fatal(err)
	}
	canaries := []string{e.srv.SecretKey, e.srv.AccessKey, u.Query().Get("X-Amz-Signature")}
	for i, c := range canaries {
		if c == "" { // an empty canary would find nothing and pass
			e.s.Fatalf("canary %d is empty (no X-Amz-Signature in the signed URL?)", i)
		}
	}
	var text string
	for _, h := range e.hosts {
		text += h.Logs.Text()
	}
	res := canaryResult{lines: strings.Count(text, "\n")}
	for _, c := range canaries {
		res.hits += strings.Count(text, c)
	}
	return res
}
