package kube_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
	"example.io/velero-plugin-s3csi/kube"
)

const s3 = "example.io/s3compat"

func TestMain(m *testing.M) {
	testenv.NoAmbientKubernetes()
	os.Exit(m.Run())
}

func TestPluginConfig(t *testing.T) {
	data := map[string]string{"multipartConcurrency": "8"}
	ours := testenv.PluginLabels(s3, "ObjectStore")
	type cm struct {
		ns, name string
		labels   map[string]string
	}
	tests := []struct {
		name    string
		cms     []cm
		hang    bool
		envNS   string
		want    string // layer name, "" for none
		errHas  string
		warnHas string
	}{
		{name: "none"},
		{name: "one", cms: []cm{{"velero", "s3compat-config", ours}}, want: "ConfigMap velero/s3compat-config"},
		{name: "two", cms: []cm{{"velero", "a", ours}, {"velero", "b", ours}}, errHas: "found more than one ConfigMap"},
		{name: "wrong kind label", cms: []cm{{"velero", "x", testenv.PluginLabels(s3, "VolumeSnapshotter")}}},
		{name: "no plugin-config label", cms: []cm{{"velero", "x", map[string]string{s3: "ObjectStore"}}}},
		{name: "another plugin's", cms: []cm{{"velero", "x", testenv.PluginLabels("example.io/csi", "VolumeSnapshotter")}}},
		{name: "wrong namespace", cms: []cm{{"default", "x", ours}}},
		{name: "VELERO_NAMESPACE", cms: []cm{{"backup-system", "s3", ours}, {"velero", "other", ours}},
			envNS: "backup-system", want: "ConfigMap backup-system/s3"},
		{name: "API hangs", hang: true, warnHas: "not read from namespace velero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testenv.StartKubeAPI(t)
			for _, c := range tt.cms {
				k.PutConfigMap(c.ns, c.name, c.labels, data)
			}
			k.Hang = tt.hang
			t.Setenv("KUBECONFIG", k.Kubeconfig)
			t.Setenv("VELERO_NAMESPACE", tt.envNS)
			pc, err := kube.New().PluginConfig(context.Background(), veleroplugin.KindObjectStore, s3)
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

func TestPluginConfigWithoutAPI(t *testing.T) {
	t.Run("nothing configured", func(t *testing.T) {
		t.Setenv("KUBECONFIG", "")
		pc, err := kube.New().PluginConfig(context.Background(), veleroplugin.KindObjectStore, s3)
		require.NoError(t, err)
		assert.True(t, pc.Warn)
		assert.Contains(t, pc.Note, "no in-cluster service account and no KUBECONFIG")
	})
	t.Run("API not listening", func(t *testing.T) {
		t.Setenv("KUBECONFIG", testenv.WriteKubeconfig(t, "http://"+closedAddr(t)))
		pc, err := kube.New().PluginConfig(context.Background(), veleroplugin.KindObjectStore, s3)
		require.NoError(t, err)
		assert.True(t, pc.Warn)
		assert.Contains(t, pc.Note, "connection refused")
	})
}

func TestSecret(t *testing.T) {
	tests := []struct {
		name     string
		api      func(t *testing.T) string // the KUBECONFIG to use
		secret   string
		want     map[string][]byte
		errIs    error
		notFound bool
		errHas   string
	}{
		{"found", withSecret, "creds", map[string][]byte{"token": []byte("s3cr3t")}, nil, false, ""},
		{"missing", withSecret, "nope", nil, nil, true, `secrets "nope" not found`},
		{"no API", func(*testing.T) string { return "" }, "creds", nil, kube.ErrNoAPI, false, "no in-cluster service account"},
		{"API not listening", func(t *testing.T) string {
			return testenv.WriteKubeconfig(t, "http://"+closedAddr(t))
		}, "creds", nil, nil, false, "connection refused"},
		{"API hangs", func(t *testing.T) string {
			k := testenv.StartKubeAPI(t)
			k.Hang = true
			return k.Kubeconfig
		}, "creds", nil, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tt.api(t))
			data, err := kube.New().Secret(context.Background(), "velero", tt.secret)
			if tt.want != nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, data)
				return
			}
			require.Error(t, err)
			assert.Nil(t, data)
			if tt.errIs != nil {
				assert.ErrorIs(t, err, tt.errIs)
			}
			assert.Equal(t, tt.notFound, apierrors.IsNotFound(err), "%v", err)
			if tt.errHas == "" {
				assert.Regexp(t, "deadline exceeded|Timeout exceeded", err.Error(), "the plugin's own timeout gave up on the API")
				return
			}
			assert.Contains(t, err.Error(), tt.errHas)
		})
	}
}

// withSecret serves Secret velero/creds and returns its kubeconfig.
func withSecret(t *testing.T) string {
	t.Helper()
	k := testenv.StartKubeAPI(t)
	k.PutSecret("velero", "creds", map[string]string{"token": "s3cr3t"})
	return k.Kubeconfig
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}
