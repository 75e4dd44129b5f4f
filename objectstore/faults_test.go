package objectstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/objectstore"
)

// The short fault suite: for each kind of fault a few uploads and
// downloads through Velero's plugin host (the built binary), against MinIO
// behind the fault proxy. What a retry can carry must end with the exact
// bytes, verified by an independent client, no upload left behind, and a
// log line per retried part, object or range naming its cause.
func TestFaultsAreRetried(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	age := testenv.NewAgeKey(t) // the backup contents key is encrypted: its resume runs below the decryption
	s, h := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL, "multipartPartSize", "5Mi",
		"multipartConcurrency", "2", "stallTimeout", "2s", "maxRetries", "4", "encryptionRecipients", age.Recipient, "encryptionIdentityFile", age.File))
	// strike puts f on the single put, a part and three downloads (the
	// json's, the tarball's and the encrypted tarball's first GET, or a resume).
	strike := func(f testenv.Fault, kinds ...string) func() []*testenv.Injection {
		return func() []*testenv.Injection {
			var in []*testenv.Injection
			for _, k := range kinds {
				g := f
				g.Match, g.Times = testenv.OfKind(k), map[string]int{"GetObject": 3}[k]
				if g.Times == 0 {
					g.Times = 1
				}
				in = append(in, proxy.Inject(g))
			}
			return in
		}
	}
	all := []string{"PutObject", "UploadPart", "GetObject"}
	tests := []struct {
		name   string
		inject func() []*testenv.Injection
		cause  string // what the retry lines say; "" when nothing needs retrying
	}{
		{"503 SlowDown", strike(testenv.Fault{Kind: testenv.FaultStatus, Status: 503, Code: "SlowDown"}, all...), "throttled"},
		{"500 InternalError", strike(testenv.Fault{Kind: testenv.FaultStatus, Status: 500}, all...), "5xx"},
		{"reset mid-body", strike(testenv.Fault{Kind: testenv.FaultReset, After: 1 << 20}, all...), "reset"},
		{"stall mid-body", strike(testenv.Fault{Kind: testenv.FaultStall, After: 1 << 20}, all...), "stall"},
		{"server down then up", strike(testenv.Fault{Kind: testenv.FaultDown, After: 1 << 20, For: 3 * time.Second}, "UploadPart", "GetObject"), "reset"},
		{"latency", func() []*testenv.Injection { proxy.SetLatency(100 * time.Millisecond); return nil }, ""},
		{"bandwidth", func() []*testenv.Injection { proxy.SetBandwidth(16 << 20); return nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer proxy.ClearFaults()
			prefix := "faults/" + strings.ReplaceAll(tt.name, " ", "-") + "/"
			objects := []struct {
				key  string
				body []byte
			}{
				// 2 MiB and 11 bytes: one request, and a resume that a
				// fault 1 MiB in strikes before its end.
				{prefix + "velero-backup.json", jsonOf(t, randomBytes(t, 3<<19))},
				{prefix + "b.tar.gz", gzipped(t, randomBytes(t, 12<<20))},           // three parts
				{prefix + "backups/e/e.tar.gz", gzipped(t, randomBytes(t, 12<<20))}, // the same, stored as an age file
			}
			injected := tt.inject()
			for _, o := range objects {
				require.NoError(t, s.PutObject(bucket, o.key, stream(o.body)), o.key)
			}
			for _, o := range objects {
				assert.Equal(t, digest(o.body), digest(readAll(t, s, bucket, o.key)), "read back through the plugin: %s", o.key)
				if stored := independentRead(t, srv, bucket, o.key); strings.HasSuffix(o.key, "/e.tar.gz") {
					assert.True(t, bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")), "what S3 holds: %s", o.key)
				} else {
					assert.Equal(t, digest(o.body), digest(stored), "what S3 holds: %s", o.key)
				}
				assertNoUploads(t, srv, bucket, o.key)
			}
			hits := 0
			for i, in := range injected {
				require.Positive(t, in.Hits(), "fault %d of the case struck", i)
				hits += in.Hits()
			}
			if tt.cause == "" {
				return
			}
			ours := func(e *logrus.Entry) bool { return strings.HasPrefix(fmt.Sprint(e.Data["key"]), prefix) }
			retried := h.Logs.Count(hits, func(e *logrus.Entry) bool {
				return ours(e) && e.Message == "retrying after a transient failure" && e.Data["cause"] == tt.cause
			})
			assert.GreaterOrEqual(t, retried, hits, "a retry line with cause %s for each strike:\n%s", tt.cause, h.Logs.Text())
			for _, unit := range []string{"part", "range"} {
				assert.NotNil(t, h.Logs.Find(func(e *logrus.Entry) bool {
					return ours(e) && e.Message == "succeeded after retrying" && e.Data["unit"] == unit
				}), "a %s succeeded after retrying", unit)
			}
			for _, done := range []string{"upload done", "download done"} {
				assert.NotNil(t, h.Logs.Find(func(e *logrus.Entry) bool {
					return ours(e) && e.Message == done && e.Level == logrus.InfoLevel && fmt.Sprint(e.Data["retries"]) != "0"
				}), "an Info line %q that counts the retries", done)
			}
		})
	}
}

// When every attempt fails the retries end: the error says how many
// attempts met which fault, nothing is committed and nothing is left.
func TestFaultsGiveUpAfterMaxRetries(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	s, _ := newStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL, "multipartPartSize", "5Mi",
		"stallTimeout", "1s", "maxRetries", "1"))
	data := randomBytes(t, 12<<20)
	require.NoError(t, s.PutObject(bucket, "stored", stream(data)))
	sends := testenv.OfKind("PutObject", "UploadPart")
	tests := []struct {
		name     string
		fault    testenv.Fault
		sentinel error
		counts   string
	}{
		{"upload: every request throttled", testenv.Fault{Kind: testenv.FaultStatus, Status: 503, Code: "SlowDown", Match: sends}, objectstore.ErrThrottled, "stalls 0, resets 0, 5xx 0, throttled 2"},
		{"upload: every request reset", testenv.Fault{Kind: testenv.FaultReset, After: 1 << 20, Match: sends}, objectstore.ErrConnection, "stalls 0, resets 2, 5xx 0, throttled 0"},
		{"upload: every request stalls", testenv.Fault{Kind: testenv.FaultStall, Match: sends}, objectstore.ErrStalled, "stalls 2, resets 0, 5xx 0, throttled 0"},
		{"download: every range reset", testenv.Fault{Kind: testenv.FaultReset, After: 1 << 20, Match: testenv.OfKind("GetObject")}, objectstore.ErrConnection, "stalls 0, resets 2, 5xx 0, throttled 0"},
		{"download: every range stalls", testenv.Fault{Kind: testenv.FaultStall, After: 1 << 20, Match: testenv.OfKind("GetObject")}, objectstore.ErrStalled, "stalls 2, resets 0, 5xx 0, throttled 0"},
		{"download: every request 500", testenv.Fault{Kind: testenv.FaultStatus, Status: 500, Match: testenv.OfKind("GetObject")}, objectstore.ErrServer, "stalls 0, resets 0, 5xx 2, throttled 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer proxy.ClearFaults()
			in := proxy.Inject(tt.fault)
			var err error
			if strings.HasPrefix(tt.name, "upload") {
				for _, size := range []int{2 << 20, 12 << 20} { // one request, and multipart
					key := fmt.Sprintf("given-up-%d", size)
					err = s.PutObject(bucket, key, stream(data[:size]))
					require.Error(t, err)
					assertGaveUp(t, err, tt.sentinel, tt.counts)
					ok, existsErr := s.ObjectExists(bucket, key)
					require.NoError(t, existsErr)
					assert.False(t, ok, "nothing is visible under %s", key)
					assertNoUploads(t, srv, bucket, key)
				}
			} else {
				got, readErr := readSome(s, bucket, "stored")
				err = readErr
				assertGaveUp(t, err, tt.sentinel, tt.counts)
				assert.Less(t, len(got), len(data), "never a short body reported as whole")
			}
			assert.Positive(t, in.Hits())
		})
	}
}

func assertGaveUp(t *testing.T, err error, sentinel error, counts string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, sentinel)
	assert.Contains(t, err.Error(), "gave up after 2 attempts ("+counts+")")
}

// readSome reads what it can and returns the error that ended it.
func readSome(s *objectstore.Store, bucket, key string) ([]byte, error) {
	rc, err := s.GetObject(bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func independentRead(t *testing.T, srv *testenv.S3Server, bucket, key string) []byte {
	t.Helper()
	obj, err := srv.Client().GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	return b
}
