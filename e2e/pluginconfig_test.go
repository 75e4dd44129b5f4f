//go:build e2e

package e2e

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
)

// The plugin ConfigMap cases of make test, against a real kube-apiserver.
func TestPluginConfigMapRealAPI(t *testing.T) {
	cluster := testenv.StartCluster(t)
	t.Setenv("KUBECONFIG", cluster.Kubeconfig)
	ctx := context.Background()
	cms := cluster.Client.CoreV1()
	for _, n := range []string{"velero", "other"} {
		_, err := cms.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	put := func(ns, name string, labels map[string]string) {
		_, err := cms.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Data: map[string]string{"maxRetries": "2"}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	load := func() (config.PluginConfig, error) {
		return kube.New().PluginConfig(ctx, string(common.PluginKindObjectStore), "example.io/s3compat")
	}
	s3 := testenv.PluginLabels("example.io/s3compat", "ObjectStore")

	pc, err := load()
	require.NoError(t, err)
	assert.Nil(t, pc.Layer, "none")
	assert.False(t, pc.Warn)

	put("other", "elsewhere", s3)                                                                 // wrong namespace
	put("velero", "wrong-kind", testenv.PluginLabels("example.io/s3compat", "VolumeSnapshotter")) // wrong labels
	pc, err = load()
	require.NoError(t, err)
	assert.Nil(t, pc.Layer)

	put("velero", "s3compat-config", s3)
	pc, err = load()
	require.NoError(t, err)
	require.NotNil(t, pc.Layer, "one")
	assert.Equal(t, "ConfigMap velero/s3compat-config", pc.Layer.Name)
	c, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, *pc.Layer)
	require.NoError(t, err)
	assert.Equal(t, 2, c.MaxRetries)

	put("velero", "s3compat-config-2", s3)
	_, err = load()
	require.Error(t, err, "two")
	assert.Contains(t, err.Error(), "s3compat-config s3compat-config-2")

	t.Setenv("VELERO_NAMESPACE", "other")
	pc, err = load()
	require.NoError(t, err)
	require.NotNil(t, pc.Layer)
	assert.Equal(t, "ConfigMap other/elsewhere", pc.Layer.Name)
}
