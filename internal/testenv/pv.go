package testenv

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// CSIPV is a PV of size on driver's volume handle, claimed by demo/data,
// as a CSI provisioner makes one (ext4, ReadWriteOnce).
func CSIPV(name, driver, handle, size string, mode corev1.PersistentVolumeMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:  &mode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: driver, VolumeHandle: handle, FSType: "ext4",
				VolumeAttributes: map[string]string{"storage.kubernetes.io/csiProvisionerIdentity": "x"},
			}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "demo", Name: "data"},
		},
	}
}

// Unstructured is obj as Velero hands items to plugins.
func Unstructured(t T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// WithNodeAffinity gives pv a required node affinity of one term per
// segment, each key In its value, as external-provisioner writes it.
func WithNodeAffinity(pv *corev1.PersistentVolume, segments ...map[string]string) *corev1.PersistentVolume {
	sel := &corev1.NodeSelector{}
	for _, seg := range segments {
		var term corev1.NodeSelectorTerm
		for _, k := range slices.Sorted(maps.Keys(seg)) {
			term.MatchExpressions = append(term.MatchExpressions, corev1.NodeSelectorRequirement{Key: k, Operator: corev1.NodeSelectorOpIn, Values: []string{seg[k]}})
		}
		sel.NodeSelectorTerms = append(sel.NodeSelectorTerms, term)
	}
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: sel}
	return pv
}
