package doctor_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// TestDoctorAll: --all checks each BSL and VSL of this plugin in the
// namespace, BSLs first and each by name, goes on past a failed one and
// one it cannot read, names those of other providers it passes over, and
// fails when one failed.
func TestDoctorAll(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	d := testenv.StartGCEPDDriver(t)
	k := testenv.StartKubeAPI(t)
	creds, err := os.ReadFile(srv.CredentialsFile(t))
	require.NoError(t, err)
	k.PutSecret("velero", "cloud-credentials", map[string]string{"cloud": string(creds)})
	put := func(resource, name string, m map[string]any) {
		m["metadata"] = map[string]any{"name": name, "namespace": "velero"}
		data, err := yaml.Marshal(m)
		require.NoError(t, err)
		k.PutVeleroObject(t, "velero", resource, name, data)
	}
	withCredential := func(m map[string]any, key string) map[string]any {
		m["spec"].(map[string]any)["credential"] = map[string]string{"name": "cloud-credentials", "key": key}
		return m
	}
	put("backupstoragelocations", "default", withCredential(bsl(srv.MakeBucket(t), "cluster-a", map[string]string{"s3Url": srv.Endpoint}), "cloud"))
	put("backupstoragelocations", "missing-bucket", withCredential(bsl("no-such-bucket", "", map[string]string{"s3Url": srv.Endpoint}), "cloud"))
	put("backupstoragelocations", "wrong-key", withCredential(bsl(srv.MakeBucket(t), "", map[string]string{"s3Url": srv.Endpoint}), "nope"))
	aws := bsl("other", "", map[string]string{"region": "us-east-1"})
	aws["spec"].(map[string]any)["provider"] = "velero.io/aws"
	put("backupstoragelocations", "aws", aws)
	put("volumesnapshotlocations", "csi", vsl(map[string]string{"driver": d.Name, "endpoint": d.Endpoint}))

	out, stderr, code := run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--all")
	assert.Equal(t, 1, code, "%s\n%s", out, stderr)
	var order []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "checking ") {
			order = append(order, l)
		}
	}
	assert.Equal(t, []string{
		"checking BackupStorageLocation velero/default (provider example.io/s3compat)",
		"checking BackupStorageLocation velero/missing-bucket (provider example.io/s3compat)",
		"checking BackupStorageLocation velero/wrong-key (provider example.io/s3compat)",
		"checking VolumeSnapshotLocation velero/csi (provider example.io/csi)",
	}, order, out)
	got := failed(out)
	require.Len(t, got, 2, out)
	assert.Contains(t, got[0], `✗ bucket "no-such-bucket" exists in region us-east-1: no bucket "no-such-bucket" on `)
	assert.Equal(t, `✗ read the location: spec.credential: Secret velero/cloud-credentials has no key "nope" (it has cloud) (or pass --credentials-file)`, got[1])
	assert.Contains(t, out, "BackupStorageLocation velero/default: all ")
	assert.Contains(t, out, "VolumeSnapshotLocation velero/csi: all ")
	assert.True(t, strings.HasSuffix(out, "\n4 locations checked in namespace velero: 2 passed, 2 failed; "+
		"not this plugin's, so not checked: BackupStorageLocation velero/aws (provider velero.io/aws)\n"), out)
	assert.NotContains(t, out, srv.SecretKey)

	out, _, code = run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--all", "--output", "json")
	assert.Equal(t, 1, code)
	var doc struct {
		Namespace string
		OK        bool
		Locations []struct {
			Location string
			OK       bool
		}
		Skipped []string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	assert.Equal(t, "velero", doc.Namespace)
	assert.False(t, doc.OK)
	oks := map[string]bool{}
	for _, l := range doc.Locations {
		oks[l.Location] = l.OK
	}
	assert.Equal(t, map[string]bool{"BackupStorageLocation velero/default": true, "BackupStorageLocation velero/missing-bucket": false,
		"BackupStorageLocation velero/wrong-key": false, "VolumeSnapshotLocation velero/csi": true}, oks)
	assert.Equal(t, []string{"BackupStorageLocation velero/aws (provider velero.io/aws)"}, doc.Skipped)

	t.Run("nothing of this plugin", func(t *testing.T) {
		empty := testenv.StartKubeAPI(t)
		empty.PutVeleroObject(t, "velero", "backupstoragelocations", "aws", mustYAML(t, aws))
		_, stderr, code := run(t, "--kubeconfig", empty.Kubeconfig, "--namespace", "velero", "--all")
		assert.Equal(t, 2, code)
		assert.Equal(t, "velero-plugin-s3csi doctor: no BackupStorageLocation or VolumeSnapshotLocation of provider example.io/s3compat or example.io/csi "+
			"in namespace velero; not this plugin's, so not checked: BackupStorageLocation velero/aws (provider velero.io/aws)\n", stderr)
	})
}

func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	data, err := yaml.Marshal(v)
	require.NoError(t, err)
	return data
}
