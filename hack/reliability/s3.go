package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

const (
	stallTimeout = 2 * time.Second
	guard        = 5 * time.Minute // a call still running then is counted hung
	objectSize   = 64 << 20
)

// s3env is MinIO behind the fault proxy, and Velero's host running the
// built plugin against the proxy.
type s3env struct {
	s      *testenv.Script
	srv    *testenv.S3Server
	proxy  *testenv.Proxy
	host   *testenv.Host
	hosts  []*testenv.Host // every host started, for the canary check
	bucket string
	cfg    map[string]string
	bodies [][]byte // distinct gzip bodies of about objectSize
	stalls stallClock
	canary []string // signed-URL signatures, checked against the log
}

func startS3(s *testenv.Script) *s3env {
	srv := testenv.StartMinIO(s, testenv.MinIOOptions{})
	e := &s3env{s: s, srv: srv, bucket: srv.MakeBucket(s), proxy: testenv.StartProxy(s, srv.Endpoint)}
	e.newHost()
	e.cfg = map[string]string{"bucket": e.bucket, "prefix": "rel", "s3Url": e.proxy.URL, "credentialsFile": srv.CredentialsFile(s),
		"multipartPartSize": "8Mi", "multipartConcurrency": "4", "stallTimeout": stallTimeout.String(), "maxRetries": "5"}
	for i := 0; i < 4; i++ {
		e.bodies = append(e.bodies, gzipOf(s, randomStream(uint64(i), objectSize)))
	}
	return e
}

// newHost starts Velero's plugin host, at debug level.
func (e *s3env) newHost() {
	e.host = testenv.StartHost(e.s, testenv.PluginDir(e.s), logrus.DebugLevel, "--log-level=debug")
	e.hosts = append(e.hosts, e.host)
}

// store is a fresh ObjectStore from the host, as Velero gets one per use.
// Right after a plugin process died the host may not have noticed yet:
// like Velero at its next reconcile, it asks again for up to 10 s.
func (e *s3env) store(more ...string) velero.ObjectStore {
	cfg := map[string]string{}
	for k, v := range e.cfg {
		cfg[k] = v
	}
	for i := 0; i+1 < len(more); i += 2 {
		cfg[more[i]] = more[i+1]
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.host.Manager.GetObjectStore("example.io/s3compat")
		if err == nil {
			err = st.Init(cfg)
		}
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			e.s.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// faultMix puts in force what the i-th upload or download meets, until
// e.proxy.ClearFaults.
func (e *s3env) faultMix(i int, kind string) {
	one := func(f testenv.Fault) { f.Match, f.Times = testenv.OfKind(kind), max(f.Times, 1); e.proxy.Inject(f) }
	switch i % 7 {
	case 1:
		one(testenv.Fault{Kind: testenv.FaultReset, After: 3 << 20})
	case 2:
		f := testenv.Fault{Kind: testenv.FaultStall, After: 1 << 20, Times: 1, Hold: 10 * time.Second}
		f.Match = e.stalls.strike(testenv.OfKind(kind))
		e.proxy.Inject(f)
	case 3:
		one(testenv.Fault{Kind: testenv.FaultStatus, Status: 503, Code: "SlowDown", Times: 2})
	case 4:
		one(testenv.Fault{Kind: testenv.FaultStatus, Status: 500})
	case 5:
		one(testenv.Fault{Kind: testenv.FaultDown, After: 2 << 20, For: 3 * time.Second})
	case 6:
		e.proxy.SetLatency(50 * time.Millisecond)
		e.proxy.SetBandwidth(64 << 20)
	}
}

// retries is how many units have succeeded after retrying so far.
func (e *s3env) retries() int {
	n := 0
	for _, l := range e.host.Logs.Entries() {
		if l.Message == "succeeded after retrying" {
			n++
		}
	}
	return n
}

// within runs f with the guard; false when it did not return in time.
func within(f func()) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(guard):
		return false
	}
}

func (e *s3env) uploads(n int) *row {
	r := &row{name: fmt.Sprintf("%d uploads of 64 MiB, mixed faults", n)}
	st := e.store()
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("rel/backups/up-%d/up-%d.tar.gz", i, i)
		body := e.bodies[i%len(e.bodies)]
		e.faultMix(i, []string{"UploadPart", "UploadPart", "CompleteMultipartUpload", "CreateMultipartUpload"}[i%4])
		before := e.retries()
		var err error
		r.attempted++
		if !within(func() { err = st.PutObject(e.bucket, key, bytes.NewReader(body)) }) {
			r.hung++
			e.proxy.ClearFaults()
			continue
		}
		e.proxy.ClearFaults()
		e.judgeUpload(r, key, body, err, e.retries() > before)
	}
	r.orphanUploads = e.incompleteUploads()
	e.stalls.detect(e.host.Logs.Entries())
	return r
}

// judgeUpload reads back what S3 holds with an independent client.
func (e *s3env) judgeUpload(r *row, key string, body []byte, err error, retried bool) {
	got, readErr := e.independentRead(key)
	switch {
	case err != nil && readErr != nil:
		r.failedCleanly++
	case err != nil:
		r.corrupt++ // an object is there although the upload failed
		r.note += fmt.Sprintf(" %s stored after a failed upload (%v);", key, err)
	case readErr != nil || sha256.Sum256(got) != sha256.Sum256(body):
		r.corrupt++
	case retried:
		r.retriedVerified++
		r.verified++
	default:
		r.verified++
	}
}

func (e *s3env) independentRead(key string) ([]byte, error) {
	obj, err := e.srv.Client().GetObject(context.Background(), e.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// incompleteUploads is how many multipart uploads are left in the bucket.
func (e *s3env) incompleteUploads() int {
	n := 0
	for u := range e.srv.Client().ListIncompleteUploads(context.Background(), e.bucket, "", true) {
		if u.Err == nil {
			n++
		}
	}
	return n
}

func (e *s3env) downloads(n int) *row {
	r := &row{name: fmt.Sprintf("%d downloads of 64 MiB, mixed faults", n)}
	st := e.store()
	keys := make([]string, len(e.bodies))
	for i, b := range e.bodies {
		keys[i] = fmt.Sprintf("rel/backups/down-%d/down-%d.tar.gz", i, i)
		if err := st.PutObject(e.bucket, keys[i], bytes.NewReader(b)); err != nil {
			e.s.Fatalf("put %s: %v", keys[i], err)
		}
	}
	for i := 0; i < n; i++ {
		body, key := e.bodies[i%len(keys)], keys[i%len(keys)]
		e.faultMix(i, "GetObject")
		before := e.retries()
		var got []byte
		var err error
		r.attempted++
		if !within(func() { got, err = readAll(st, e.bucket, key) }) {
			r.hung++
			e.proxy.ClearFaults()
			continue
		}
		e.proxy.ClearFaults()
		switch {
		case err != nil:
			r.failedCleanly++
		case len(got) < len(body):
			r.shortNoError++
		case sha256.Sum256(got) != sha256.Sum256(body):
			r.corrupt++
		case e.retries() > before:
			r.retriedVerified++
			r.verified++
		default:
			r.verified++
		}
	}
	e.stalls.detect(e.host.Logs.Entries())
	return r
}

func readAll(st velero.ObjectStore, bucket, key string) ([]byte, error) {
	rc, err := st.GetObject(bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// stallClock keeps when each stall struck and, from the plugin's retry
// lines, when it was detected.
type stallClock struct {
	mu     sync.Mutex
	struck []time.Time
	n      int
	total  time.Duration
}

// strike wraps a Match so that the moment it first matches is kept.
func (c *stallClock) strike(match func(*http.Request) bool) func(*http.Request) bool {
	var once sync.Once
	return func(r *http.Request) bool {
		if !match(r) {
			return false
		}
		once.Do(func() { c.mu.Lock(); c.struck = append(c.struck, time.Now()); c.mu.Unlock() })
		return true
	}
}

// detect pairs each strike with the first stall retry line after it.
func (c *stallClock) detect(logs []*logrus.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.struck {
		for _, l := range logs {
			if l.Message == "retrying after a transient failure" && l.Data["cause"] == "stall" && l.Time.After(t) {
				c.n++
				c.total += l.Time.Sub(t)
				break
			}
		}
	}
	c.struck = nil
}

func (c *stallClock) mean() time.Duration {
	if c.n == 0 {
		return 0
	}
	return c.total / time.Duration(c.n)
}

// randomStream is n pseudo-random bytes from seed: distinct, repeatable
// data that costs no memory to hold.
func randomStream(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}), n)
}

func gzipOf(s *testenv.Script, r io.Reader) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := io.Copy(zw, r); err != nil {
		s.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		s.Fatal(err)
	}
	return buf.Bytes()
}
