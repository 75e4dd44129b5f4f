package objectstore_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/conformance"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/objectstore"
)

// target is an object store under test and the server behind it, for the
// helpers below: host is nil on the direct path.
type target struct {
	srv    *testenv.S3Server
	store  velero.ObjectStore
	bucket string
	host   *testenv.Host
}

// TestConformance runs the one conformance suite (internal/conformance,
// which `make compat` runs through each Velero release's host) against
// every S3 server the project supports, in process and through Velero's
// plugin host loading the built binary, plain, with every .gz key
// encrypted, and with every object signed.
func TestConformance(t *testing.T) {
	servers := map[string]func(testenv.T) *testenv.S3Server{
		"minio":     func(t testenv.T) *testenv.S3Server { return testenv.StartMinIO(t, testenv.MinIOOptions{}) },
		"versitygw": testenv.StartVersityGW,
	}
	for _, name := range []string{"minio", "versitygw"} {
		t.Run(name, func(t *testing.T) {
			srv := servers[name](t)
			for _, path := range []string{"direct", "velero-host", "velero-host-encrypted", "velero-host-signed"} {
				t.Run(path, func(t *testing.T) {
					bucket := srv.MakeBucket(t)
					raw, err := conformance.NewRaw(srv.Endpoint, srv.AccessKey, srv.SecretKey, bucket)
					require.NoError(t, err)
					// Small parts so that multipart paths run on small data.
					cfg := storeConfig(srv, bucket, "multipartPartSize", "5Mi", "multipartConcurrency", "3")
					env := conformance.Env{Bucket: bucket, Raw: raw}
					switch path {
					case "direct":
						store, logs := newStore(t, srv, cfg)
						env.Store, env.Logs, env.Truncated = store, logCapture{logs}, objectstore.ErrTruncated
					case "velero-host-encrypted": // everything holds with every .gz key sealed
						key := testenv.NewAgeKey(t)
						cfg["encryptionRecipients"], cfg["encryptionScope"], cfg["encryptionIdentityFile"] = key.Recipient, "allGzip", key.File
						env.Sealed = true
					case "velero-host-signed": // everything holds with every object signed and checked
						key := testenv.NewMinisignKey(t)
						cfg["signingKeyFile"], cfg["requireSignatures"] = key.File, "true"
						env.VerifySignature = func(data, sig []byte) (string, error) { return key.Verify(t, data, sig) }
					}
					if path != "direct" {
						store, h := hostStore(t, srv, cfg)
						env.Store, env.Logs, env.ThroughHost = store, logCapture{h.Logs}, true
					}
					for _, c := range conformance.ObjectStoreCases(env) {
						t.Run(c.Name, func(t *testing.T) { c.Run(t) })
					}
				})
			}
		})
	}
}

// logCapture is a LogCapture as the suite reads logs.
type logCapture struct{ *testenv.LogCapture }

func (l logCapture) Count(n int, match func(conformance.Line) bool) int {
	return l.LogCapture.Count(n, func(e *logrus.Entry) bool {
		line := conformance.Line{Level: e.Level.String(), Msg: e.Message, Fields: map[string]string{}}
		for k, v := range e.Data {
			line.Fields[k] = fmt.Sprint(v)
		}
		return match(line)
	})
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
