package snapshotter_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.ServeIfPluginProcess()
	testenv.NoAmbientKubernetes()
	os.Exit(m.Run())
}

// pv is a bound CSI PV as Velero hands it to the plugin.
func pv(t *testing.T, name, driver, handle string, mode corev1.PersistentVolumeMode) *unstructured.Unstructured {
	t.Helper()
	return testenv.Unstructured(t, testenv.CSIPV(name, driver, handle, "20Gi", mode))
}

// pvOf reads an unstructured PV back.
func pvOf(t *testing.T, u runtime.Unstructured) *corev1.PersistentVolume {
	t.Helper()
	var p corev1.PersistentVolume
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), &p))
	return &p
}
