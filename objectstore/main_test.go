package objectstore_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/conformance"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

func TestMain(m *testing.M) {
	testenv.ServeIfPluginProcess()
	testenv.NoAmbientKubernetes()
	os.Exit(m.Run())
}

// storeConfig is a BSL config for srv, with extra keys on top.
func storeConfig(srv *testenv.S3Server, bucket string, extra ...string) map[string]string {
	c := map[string]string{"bucket": bucket, "s3Url": srv.Endpoint}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i]] = extra[i+1]
	}
	return c
}

// newStore builds a store in this process (the direct path).
func newStore(t *testing.T, srv *testenv.S3Server, cfg map[string]string) (*objectstore.Store, *testenv.LogCapture) {
	t.Helper()
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	s := objectstore.New(logs.Logger, kube.New())
	if _, ok := cfg["credentialsFile"]; !ok {
		cfg["credentialsFile"] = srv.CredentialsFile(t)
	}
	require.NoError(t, s.Init(cfg))
	return s, logs
}

// hostStore loads the built plugin through Velero's plugin host.
func hostStore(t *testing.T, srv *testenv.S3Server, cfg map[string]string, serverArgs ...string) (velero.ObjectStore, *testenv.Host) {
	t.Helper()
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.DebugLevel, append([]string{"--log-level=debug"}, serverArgs...)...)
	s, err := h.Manager.GetObjectStore("example.io/s3compat")
	require.NoError(t, err)
	if _, ok := cfg["credentialsFile"]; !ok {
		cfg["credentialsFile"] = srv.CredentialsFile(t)
	}
	require.NoError(t, s.Init(cfg))
	return s, h
}

func randomBytes(t testenv.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// gzipped compresses data (mostly incompressible if data is random).
func gzipped(t testenv.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	require.NoError(t, err)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func readAll(t testenv.T, s velero.ObjectStore, bucket, key string) []byte {
	t.Helper()
	rc, err := s.GetObject(bucket, key)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }

// jsonOf is a JSON document that carries data, as Velero's .json keys
// hold JSON.
func jsonOf(t testenv.T, data []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string][]byte{"data": data})
	require.NoError(t, err)
	return b
}

// stream is b as Velero's host hands a body to PutObject.
func stream(b []byte) io.Reader { return conformance.Stream(b) }
