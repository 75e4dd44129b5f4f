package config_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

const s3 = "example.io/s3compat"

func TestLoadPluginConfig(t *testing.T) {
	data := map[string]string{"multipartConcurrency": "8"}
	tests := []struct {
		name    string
		setup   func(k *testenv.KubeAPI)
		envNS   string
		want    string // layer name, "" for none
		errHas  string
		warnHas string
	}{
		{"none", func(k *testenv.KubeAPI) {}, "", "", "", ""},
		{"one", func(k *testenv.KubeAPI) {
			k.PutConfigMap("velero", "s3compat-config", testenv.PluginLabels(s3, "ObjectStore"), data)
		}, "", "ConfigMap velero/s3compat-config", "", ""},
		{"two", func(k *testenv.KubeAPI) {
			k.PutConfigMap("velero", "a", testenv.PluginLabels(s3, "ObjectStore"), data)
			k.PutConfigMap("velero", "b", testenv.PluginLabels(s3, "ObjectStore"), data)
		}, "", "", "found more than one ConfigMap", ""},
		{"wrong kind label", func(k *testenv.KubeAPI) {
			k.PutConfigMap("velero", "x", testenv.PluginLabels(s3, "VolumeSnapshotter"), data)
		}, "", "", "", ""},
		{"no plugin-config label", func(k *testenv.KubeAPI) {
			k.PutConfigMap("velero", "x", map[string]string{s3: "ObjectStore"}, data)
		}, "", "", "", ""},
		{"another plugin's", func(k *testenv.KubeAPI) {
			k.PutConfigMap("velero", "x", testenv.PluginLabels("example.io/csi", "VolumeSnapshotter"), data)
		}, "", "", "", ""},
		{"wrong namespace", func(k *testenv.KubeAPI) {
			k.PutConfigMap("default", "x", testenv.PluginLabels(s3, "ObjectStore"), data)
		}, "", "", "", ""},
		{"VELERO_NAMESPACE", func(k *testenv.KubeAPI) {
			k.PutConfigMap("backup-system", "s3", testenv.PluginLabels(s3, "ObjectStore"), data)
			k.PutConfigMap("velero", "other", testenv.PluginLabels(s3, "ObjectStore"), data)
		}, "backup-system", "ConfigMap backup-system/s3", "", ""},
		{"API hangs", func(k *testenv.KubeAPI) { k.Hang = true }, "", "", "", "not read from namespace velero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testenv.StartKubeAPI(t)
			tt.setup(k)
			t.Setenv("KUBECONFIG", k.Kubeconfig)
			t.Setenv("VELERO_NAMESPACE", tt.envNS)
			pc, err := config.LoadPluginConfig(common.PluginKindObjectStore, s3)
			if tt.errHas != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errHas)
				assert.Contains(t, err.Error(), "[a b]")
				return
			}
			require.NoError(t, err)
			if tt.warnHas != "" {
				assert.True(t, pc.Warn)
				assert.Contains(t, pc.Note, tt.warnHas)
				assert.Regexp(t, "deadline exceeded|Timeout exceeded", pc.Note, "the plugin's own timeout gave up on the API")
				return
			}
			assert.False(t, pc.Warn, pc.Note)
			if tt.want == "" {
				assert.Nil(t, pc.Layer)
				assert.Contains(t, pc.Note, "no plugin ConfigMap labeled velero.io/plugin-config,example.io/s3compat=ObjectStore")
				return
			}
			require.NotNil(t, pc.Layer)
			assert.Equal(t, tt.want, pc.Layer.Name)
			assert.True(t, pc.Layer.TunablesOnly)
			assert.Equal(t, data, pc.Layer.Values)
		})
	}
}

func TestLoadPluginConfigWithoutAPI(t *testing.T) {
	t.Run("nothing configured", func(t *testing.T) {
		t.Setenv("KUBECONFIG", "")
		pc, err := config.LoadPluginConfig(common.PluginKindObjectStore, s3)
		require.NoError(t, err)
		assert.True(t, pc.Warn)
		assert.Contains(t, pc.Note, "no in-cluster service account and no KUBECONFIG")
	})
	t.Run("API not listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		t.Setenv("KUBECONFIG", testenv.WriteKubeconfig(t, "http://"+addr))
		pc, err := config.LoadPluginConfig(common.PluginKindObjectStore, s3)
		require.NoError(t, err)
		assert.True(t, pc.Warn)
		assert.Contains(t, pc.Note, "connection refused")
	})
}

func TestConfigMapLayer(t *testing.T) {
	cm := config.Layer{Name: "ConfigMap velero/s3compat-config", TunablesOnly: true}
	t.Run("precedence: location > ConfigMap > default", func(t *testing.T) {
		cm.Values = map[string]string{"multipartConcurrency": "8", "maxRetries": "2"}
		c, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b", "multipartConcurrency": "3"}}, cm)
		require.NoError(t, err)
		assert.Equal(t, 3, c.Concurrency)
		assert.Equal(t, 2, c.MaxRetries)
		assert.Equal(t, 5*time.Second, c.ProgressInterval)
		f := c.Fields()
		assert.Equal(t, "3 (BSL config)", f["multipartConcurrency"])
		assert.Equal(t, "2 (ConfigMap velero/s3compat-config)", f["maxRetries"])
		assert.Equal(t, "5s (default)", f["progressInterval"])
	})
	t.Run("bad value names the ConfigMap", func(t *testing.T) {
		cm.Values = map[string]string{"stallTimeout": "forever"}
		_, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "stallTimeout" in ConfigMap velero/s3compat-config: "forever"`)
	})
	t.Run("unknown key names the ConfigMap", func(t *testing.T) {
		cm.Values = map[string]string{"partSize": "8Mi"}
		_, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown key "partSize" in ConfigMap velero/s3compat-config`)
	})
	t.Run("location keys stay in the location", func(t *testing.T) {
		cm.Values = map[string]string{"s3Url": "http://elsewhere:9000"}
		_, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "s3Url" is not allowed in ConfigMap velero/s3compat-config`)
	})
	t.Run("snapshotter: precedence and bad values", func(t *testing.T) {
		vcm := config.Layer{Name: "ConfigMap velero/csi-config", TunablesOnly: true, Values: map[string]string{"pollInterval": "2s", "snapshotReadyTimeout": "1h"}}
		s, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "pollInterval": "1s"}}, vcm)
		require.NoError(t, err)
		assert.Equal(t, time.Second, s.PollInterval)
		assert.Equal(t, time.Hour, s.SnapshotReadyTimeout)
		assert.Equal(t, "1h0m0s (ConfigMap velero/csi-config)", s.Fields()["snapshotReadyTimeout"])
		vcm.Values = map[string]string{"driver": "other"}
		_, err = config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d"}}, vcm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "driver" is not allowed in ConfigMap velero/csi-config`)
		vcm.Values = map[string]string{"logLevel": "loud"}
		_, err = config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d"}}, vcm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "logLevel" in ConfigMap velero/csi-config: "loud"`)
	})
}

func TestCustomerKeyFromSecret(t *testing.T) {
	k := testenv.StartKubeAPI(t)
	t.Setenv("KUBECONFIG", k.Kubeconfig)
	t.Setenv("VELERO_NAMESPACE", "velero")
	k.PutSecret("velero", "sse", map[string]string{"key": "0123456789abcdef0123456789abcdef", "short": "abc"})
	bsl := func(ref string) config.Layer {
		return config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b", "customerKeyEncryptionSecret": ref}}
	}
	c, err := config.ParseObjectStore(bsl("sse/key"))
	require.NoError(t, err)
	assert.Len(t, c.CustomerKey, 32)
	assert.Equal(t, "<redacted> (customerKeyEncryptionSecret in BSL config)", c.Fields()["sseCustomerKey"])
	for ref, want := range map[string]string{
		"sse/short":   "exactly 32 bytes",
		"sse/missing": `names key "missing" that Secret velero/sse does not have`,
		"nope/key":    "cannot be read from namespace velero",
	} {
		_, err := config.ParseObjectStore(bsl(ref))
		require.Error(t, err, ref)
		assert.Contains(t, err.Error(), `"customerKeyEncryptionSecret"`)
		assert.Contains(t, err.Error(), want)
		assert.NotContains(t, err.Error(), "0123456789abcdef")
	}
}
