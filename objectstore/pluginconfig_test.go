package objectstore_test

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// settingsLine returns the fields of the n-th "object store settings" line.
func settingsLine(t *testing.T, logs *testenv.LogCapture, n int) logrus.Fields {
	t.Helper()
	isSettings := func(e *logrus.Entry) bool { return strings.HasPrefix(e.Message, "object store settings") }
	require.GreaterOrEqual(t, logs.Count(n, isSettings), n, "no settings line %d in:\n%s", n, logs.Text())
	var lines []logrus.Fields
	for _, e := range logs.Entries() {
		if isSettings(e) {
			lines = append(lines, e.Data)
		}
	}
	return lines[n-1]
}

// The plugin ConfigMap through Velero's host: the plugin process reads it
// with its real client-go code, at every Init.
func TestPluginConfigMapThroughHost(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	k := testenv.StartKubeAPI(t)
	t.Setenv("KUBECONFIG", k.Kubeconfig)
	t.Setenv("VELERO_NAMESPACE", "velero")
	labels := testenv.PluginLabels("example.io/s3compat", "ObjectStore")
	k.PutConfigMap("velero", "s3compat-config", labels, map[string]string{"multipartConcurrency": "6", "maxRetries": "2"})

	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.InfoLevel, "--log-level=info")
	bsl := storeConfig(srv, bucket, "maxRetries", "1", "credentialsFile", srv.CredentialsFile(t))
	initStore := func() error {
		s, err := h.Manager.GetObjectStore("example.io/s3compat")
		require.NoError(t, err)
		if err := s.Init(bsl); err != nil {
			return err
		}
		return s.PutObject(bucket, "cm/k", stream([]byte("x")))
	}

	require.NoError(t, initStore())
	f := settingsLine(t, h.Logs, 1)
	assert.Equal(t, "6 (ConfigMap velero/s3compat-config)", f["multipartConcurrency"])
	assert.Equal(t, "1 (BSL config)", f["maxRetries"], "the BSL wins over the ConfigMap")
	assert.Equal(t, "5s (default)", f["progressInterval"])
	assert.Equal(t, "settings read from ConfigMap velero/s3compat-config", f["pluginConfig"], "one line says it all")
	assert.NotContains(t, h.Logs.Text(), "object written in one request", "a debug line at info level")

	t.Run("a change applies at the next Init", func(t *testing.T) {
		k.PutConfigMap("velero", "s3compat-config", labels, map[string]string{"multipartConcurrency": "9", "logLevel": "debug"})
		require.NoError(t, initStore())
		f := settingsLine(t, h.Logs, 2)
		assert.Equal(t, "9 (ConfigMap velero/s3compat-config)", f["multipartConcurrency"])
		e := h.Logs.Find(func(e *logrus.Entry) bool { return e.Message == "object written in one request" })
		require.NotNil(t, e, "logLevel: debug in the ConfigMap shows debug lines at a host on info:\n%s", h.Logs.Text())
		assert.Equal(t, logrus.InfoLevel, e.Level, "sent at the host's level")
		assert.Equal(t, "debug", e.Data["pluginLogLevel"])
	})

	t.Run("a bad value fails Init naming the ConfigMap", func(t *testing.T) {
		k.PutConfigMap("velero", "s3compat-config", labels, map[string]string{"multipartPartSize": "12XB"})
		err := initStore()
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "multipartPartSize" in ConfigMap velero/s3compat-config: "12XB" is not a size`)
	})

	t.Run("two ConfigMaps fail Init naming them", func(t *testing.T) {
		k.PutConfigMap("velero", "s3compat-config", labels, map[string]string{})
		k.PutConfigMap("velero", "s3compat-config-2", labels, map[string]string{})
		err := initStore()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "s3compat-config s3compat-config-2")
	})
}

func TestNoKubeAPIWarnsOnce(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	t.Setenv("KUBECONFIG", "")
	s, logs := newStore(t, srv, storeConfig(srv, bucket))
	require.NoError(t, s.PutObject(bucket, "k", stream([]byte("x"))))
	warns := 0
	for _, e := range logs.Entries() {
		if e.Level == logrus.WarnLevel {
			warns++
			assert.Contains(t, e.Message, "plugin ConfigMap not read")
		}
	}
	assert.Equal(t, 1, warns)
}

// A BSL without s3Url works for this plugin on AWS, but Velero's own
// repository code (file-system backups, the data mover) then refuses it:
// Init says so once per process and location, and never with s3Url set.
func TestInitWarnsWithoutS3URL(t *testing.T) {
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.InfoLevel, "--log-level=info")
	initStore := func(bsl map[string]string) error { // a new restartable store per BSL, as Velero does
		s, err := h.Manager.GetObjectStore("example.io/s3compat")
		require.NoError(t, err)
		return s.Init(bsl)
	}
	isWarning := func(e *logrus.Entry) bool {
		return e.Level == logrus.WarnLevel && strings.HasPrefix(e.Message, "s3Url is not set")
	}
	aws := map[string]string{"bucket": "backups", "region": "eu-west-1"} // a region: no lookup; Init's best-effort Object Lock probe fails quietly
	require.NoError(t, initStore(aws))
	require.NoError(t, initStore(aws))
	require.Equal(t, 2, h.Logs.Count(2, func(e *logrus.Entry) bool { return strings.HasPrefix(e.Message, "object store settings") }))
	warnings := func() []*logrus.Entry {
		var out []*logrus.Entry
		for _, e := range h.Logs.Entries() {
			if isWarning(e) {
				out = append(out, e)
			}
		}
		return out
	}
	w := warnings()
	require.Len(t, w, 1, "one warning for two Inits of one location:\n%s", h.Logs.Text())
	assert.Contains(t, w[0].Message, "file-system backups and CSI data mover on this BSL will fail")
	assert.Contains(t, w[0].Message, "https://s3.<region>.amazonaws.com")
	assert.Equal(t, "backups", w[0].Data["bucket"])

	require.NoError(t, initStore(map[string]string{"bucket": "backups", "prefix": "cluster-b", "region": "eu-west-1"}))
	require.NoError(t, initStore(map[string]string{"bucket": "backups", "region": "eu-west-1", "s3Url": "https://s3.eu-west-1.amazonaws.com"}))
	require.Equal(t, 4, h.Logs.Count(4, func(e *logrus.Entry) bool { return strings.HasPrefix(e.Message, "object store settings") }))
	w = warnings()
	require.Len(t, w, 2, "another prefix is another location; s3Url set warns nothing:\n%s", h.Logs.Text())
	assert.Equal(t, "cluster-b", w[1].Data["prefix"])
}
