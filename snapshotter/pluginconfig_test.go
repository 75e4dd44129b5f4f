package snapshotter_test

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// Through Velero's host the plugin reads its ConfigMap and the CSI Secret
// with its real client-go code; the Secret's values never reach a log.
func TestConfigMapAndSecretThroughHost(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	k := testenv.StartKubeAPI(t)
	t.Setenv("KUBECONFIG", k.Kubeconfig)
	t.Setenv("VELERO_NAMESPACE", "velero")
	k.PutConfigMap("velero", "csi-config", testenv.PluginLabels("example.io/csi", "VolumeSnapshotter"),
		map[string]string{"pollInterval": "300ms", "snapshotReadyTimeout": "2m"})
	k.PutSecret("velero", "csi-creds", map[string]string{"token": "s3cr3t-csi-token"})
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.DebugLevel, "--log-level=debug")

	vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
	require.NoError(t, err)
	vsl := map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "snapshotReadyTimeout": "1m",
		"snapshotterSecretName": "csi-creds", "snapshotterSecretNamespace": "velero"}
	require.NoError(t, vs.Init(vsl))
	line := h.Logs.Find(func(e *logrus.Entry) bool { return strings.HasPrefix(e.Message, "CSI snapshotter settings") })
	require.NotNil(t, line, h.Logs.Text())
	f := line.Data
	assert.Equal(t, "300ms (ConfigMap velero/csi-config)", f["pollInterval"])
	assert.Equal(t, "1m0s (VSL config)", f["snapshotReadyTimeout"])
	assert.Contains(t, f["snapshotterSecretName"], "velero/csi-creds (values <redacted>)")

	src := d.CreateVolume(t, "secret-src", 10<<30)
	_, err = vs.GetVolumeID(pv(t, "pv1", d.Name, src.GetVolumeId(), "Filesystem"))
	require.NoError(t, err)
	id, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-secret", "velero.io/pv": "pv1"})
	require.NoError(t, err)
	require.NoError(t, vs.DeleteSnapshot(id))
	assert.NotContains(t, h.Logs.Text(), "s3cr3t-csi-token")

	vs2, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
	require.NoError(t, err)
	vsl["snapshotterSecretName"] = "missing"
	err = vs2.Init(vsl)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read CSI secret velero/missing")
}
