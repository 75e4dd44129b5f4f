package snapshotter_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	p := &corev1.PersistentVolume{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:  &mode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: driver, VolumeHandle: handle, FSType: "ext4",
				VolumeAttributes: map[string]string{"storage.kubernetes.io/csiProvisionerIdentity": "x"},
			}},
			ClaimRef: &corev1.ObjectReference{Namespace: "demo", Name: "data"},
		},
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	require.NoError(t, err)
	return &unstructured.Unstructured{Object: m}
}

// pvOf reads an unstructured PV back.
func pvOf(t *testing.T, u runtime.Unstructured) *corev1.PersistentVolume {
	t.Helper()
	var p corev1.PersistentVolume
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), &p))
	return &p
}
