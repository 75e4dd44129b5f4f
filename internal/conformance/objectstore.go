package conformance

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stretchr/testify/require"
)

// objectStoreName is the plugin's ObjectStore.
const objectStoreName = "example.io/s3compat"

// Env is one object store under test and what the cases check it with.
type Env struct {
	Store  ObjectStore
	Bucket string // empty at the start
	Raw    *Raw   // a client of the same bucket that is not the plugin
	// Logs are the plugin's lines at debug level: through a host, the
	// host's logger's, which the plugin's lines reach over its stderr.
	Logs Logs
	// ThroughHost: Store is a client of Velero's plugin host, which hides
	// a failure's message behind its own (the plugin logs it) and returns
	// before the plugin is done with a failed upload.
	ThroughHost bool
	// Truncated is the sentinel a direct caller's error wraps when a body
	// is refused as cut short (objectstore.ErrTruncated); unset through a
	// host, which passes only text.
	Truncated error
	Sealed    bool // every .gz key is stored encrypted with age
	// VerifySignature is set when every object is signed and
	// requireSignatures is on: it checks data against its .minisig with
	// the minisign CLI and returns the CLI's output.
	VerifySignature func(data, sig []byte) (string, error)
}

// Line is one log line: its level as logrus names it ("debug",
// "warning"), its message, and its fields printed.
type Line struct {
	Level, Msg string
	Fields     map[string]string
}

// Logs are the lines a store logged.
type Logs interface {
	// Count waits until at least n lines match (up to 15 s: a plugin's
	// lines reach its host asynchronously) and returns how many do.
	Count(n int, match func(Line) bool) int
	// Text is every line, for a failure message.
	Text() string
}

// logLine matches a line by level and the start of its message, and by
// fields when given.
func logLine(level, msg string, fields map[string]string) func(Line) bool {
	return func(l Line) bool {
		if l.Level != level || !strings.HasPrefix(l.Msg, msg) {
			return false
		}
		for k, v := range fields {
			if l.Fields[k] != v {
				return false
			}
		}
		return true
	}
}

// objectStore runs the ObjectStore cases through a release's host, with
// the BSL config as Velero hands it over (it adds bucket, prefix and
// credentialsFile) and small parts so that multipart paths run on small
// data.
func objectStore(h Host, cfg Config, logs hostLogs) (c Cell) {
	s, err := h.ObjectStore(objectStoreName)
	if err != nil {
		c.fail("get ObjectStore %s: %v", objectStoreName, err)
		return c
	}
	bsl := map[string]string{"bucket": cfg.Bucket, "prefix": "", "s3Url": cfg.S3URL,
		"credentialsFile": cfg.CredentialsFile, "multipartPartSize": "5Mi", "multipartConcurrency": "3"}
	if err := s.Init(bsl); err != nil {
		c.fail("Init: %v", err)
		return c
	}
	access, secret, err := credentialsFromFile(cfg.CredentialsFile)
	if err != nil {
		c.fail("credentials for the independent client: %v", err)
		return c
	}
	raw, err := NewRaw(cfg.S3URL, access, secret, cfg.Bucket)
	if err != nil {
		c.fail("%v", err)
		return c
	}
	env := Env{Store: s, Bucket: cfg.Bucket, Raw: raw, Logs: logs, ThroughHost: true}
	c.Failures = RunCases(ObjectStoreCases(env))
	return c
}

// hostLogs are a host's JSON log lines as Logs.
type hostLogs struct{ *JSONLines }

func (l hostLogs) Count(n int, match func(Line) bool) int {
	return l.JSONLines.count(n, func(m map[string]any) bool {
		line := Line{Fields: map[string]string{}}
		for k, v := range m {
			switch k {
			case "level":
				line.Level = fmt.Sprint(v)
			case "msg":
				line.Msg = fmt.Sprint(v)
			default:
				line.Fields[k] = fmt.Sprint(v)
			}
		}
		return match(line)
	})
}

// The helpers below make and read bodies as Velero does.

func randomBytes(t T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// gzipped compresses data (barely, when data is random).
func gzipped(t T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	require.NoError(t, err)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// jsonOf is a JSON document that carries data, as Velero's .json keys
// hold JSON.
func jsonOf(t T, data []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string][]byte{"data": data})
	require.NoError(t, err)
	return b
}

// readAll reads key through the store. Through a host, a GetObject
// error arrives with the first read.
func readAll(t T, s ObjectStore, bucket, key string) []byte {
	t.Helper()
	rc, err := s.GetObject(bucket, key)
	require.NoError(t, err, "GetObject %s", key)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err, "GetObject %s: read", key)
	return b
}

// oneByOne is a body that is neither seekable nor sized: it hands out at
// most n bytes a read, like Velero's 16 KiB gRPC chunks.
type oneByOne struct {
	r *bytes.Reader
	n int
}

func (o *oneByOne) Read(p []byte) (int, error) {
	if len(p) > o.n {
		p = p[:o.n]
	}
	return o.r.Read(p)
}

// Stream is b as Velero's host hands a body to PutObject: in 16 KiB
// reads, neither seekable nor sized.
func Stream(b []byte) io.Reader { return &oneByOne{r: bytes.NewReader(b), n: 16 << 10} }

// failingAfter returns data then an error, as a backup whose tarball
// writer failed half-way.
type failingAfter struct{ r io.Reader }

func (f *failingAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, io.ErrClosedPipe
	}
	return n, err
}

// sorted is a sorted copy, for listings in any order.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// signedURLTTL is what `velero backup logs` asks for, roughly.
const signedURLTTL = 10 * time.Minute
