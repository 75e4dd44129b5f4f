// Package deploy holds the manifests users apply; its test decodes each of
// them strictly against the Kubernetes and Velero types, so a typo in a
// field fails here, not in a cluster.
package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/config"
)

type meta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func docs(t *testing.T, file string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(b []byte) []byte {
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return []byte(strings.Join(keep, "\n"))
}

func TestManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	sort.Strings(files)
	require.NotEmpty(t, files)
	kinds := map[string]int{}
	for _, f := range files {
		if strings.HasPrefix(f, "helm-values") {
			continue // chart values, not objects: TestHelmValues
		}
		for _, d := range docs(t, f) {
			var m meta
			require.NoError(t, yaml.Unmarshal(d, &m), f)
			kinds[m.Kind]++
			var obj any
			switch m.Kind {
			case "BackupStorageLocation":
				bsl := &velerov1.BackupStorageLocation{}
				obj = bsl
				require.NoError(t, yaml.UnmarshalStrict(d, obj), f)
				assert.Equal(t, "example.io/s3compat", bsl.Spec.Provider)
				cfg := map[string]string{"bucket": bsl.Spec.ObjectStorage.Bucket}
				for k, v := range bsl.Spec.Config {
					cfg[k] = v
				}
				_, err := config.ParseObjectStore(config.Layer{Name: f, Values: cfg})
				require.NoError(t, err, "%s: the BSL config is valid for the plugin", f)
			case "VolumeSnapshotLocation":
				vsl := &velerov1.VolumeSnapshotLocation{}
				obj = vsl
				require.NoError(t, yaml.UnmarshalStrict(d, obj), f)
				assert.Equal(t, "example.io/csi", vsl.Spec.Provider)
				_, err := config.ParseSnapshotter(config.Layer{Name: f, Values: vsl.Spec.Config})
				require.NoError(t, err, f)
			case "ConfigMap":
				cm := &corev1.ConfigMap{}
				require.NoError(t, yaml.UnmarshalStrict(d, cm), f)
				assert.Contains(t, cm.Labels, "velero.io/plugin-config")
				layer := config.Layer{Name: f, Values: cm.Data, TunablesOnly: true}
				if cm.Labels["example.io/s3compat"] == "ObjectStore" {
					_, err := config.ParseObjectStore(config.Layer{Name: "BSL", Values: map[string]string{"bucket": "b"}}, layer)
					require.NoError(t, err, f)
				} else {
					assert.Equal(t, "VolumeSnapshotter", cm.Labels["example.io/csi"], f)
					_, err := config.ParseSnapshotter(config.Layer{Name: "VSL", Values: map[string]string{"driver": "d"}}, layer)
					require.NoError(t, err, f)
				}
				continue
			case "Secret":
				obj = &corev1.Secret{}
			case "Role":
				obj = &rbacv1.Role{}
			case "RoleBinding":
				obj = &rbacv1.RoleBinding{}
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "Job":
				obj = &batchv1.Job{}
			case "CronJob":
				obj = &batchv1.CronJob{}
			default:
				t.Fatalf("%s: kind %q has no check", f, m.Kind)
			}
			require.NoError(t, yaml.UnmarshalStrict(d, obj), f)
		}
	}
	for _, k := range []string{"BackupStorageLocation", "VolumeSnapshotLocation", "ConfigMap", "Secret", "Role", "RoleBinding", "Deployment", "Job"} {
		assert.Positive(t, kinds[k], "no %s manifest", k)
	}
}

func TestRBACIsLeast(t *testing.T) {
	for _, f := range []string{"rbac.yaml", filepath.Join(relayDir, "rbac.yaml")} {
		for _, d := range docs(t, f) {
			var m meta
			require.NoError(t, yaml.Unmarshal(d, &m), f)
			if m.Kind != "Role" {
				continue
			}
			var r rbacv1.Role
			require.NoError(t, yaml.UnmarshalStrict(d, &r), f)
			for _, rule := range r.Rules {
				assert.Len(t, rule.Resources, 1, "%s: one rule per resource", f)
				assert.NotContains(t, rule.Verbs, "*", f)
				for _, v := range rule.Verbs {
					assert.Contains(t, []string{"get", "list"}, v, "%s: read only", f)
				}
				if rule.Resources[0] == "secrets" {
					assert.NotEmpty(t, rule.ResourceNames, "%s: secrets by name only", f)
				}
			}
		}
	}
}
