package doctor_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// TestDoctorBSLInCluster reads the BSL, its spec.credential Secret, its
// caCertRef Secret and the plugin ConfigMap from an API server through
// the plugin's client-go code, as it does inside the Velero pod.
func TestDoctorBSLInCluster(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	front := testenv.StartTLSFront(t, srv.Endpoint, false)
	bucket := srv.MakeBucket(t)
	k := testenv.StartKubeAPI(t)
	creds, err := os.ReadFile(srv.CredentialsFile(t))
	require.NoError(t, err)
	k.PutSecret("velero", "cloud-credentials", map[string]string{"cloud": string(creds)})
	k.PutSecret("velero", "s3-ca", map[string]string{"ca.crt": string(front.CAPEM)})
	k.PutConfigMap("velero", "s3compat-config", testenv.PluginLabels("example.io/s3compat", "ObjectStore"),
		map[string]string{"multipartConcurrency": "3"})
	put := func(name string, objectStorage map[string]any, credential map[string]string) {
		m := bsl(bucket, "cluster-a", map[string]string{"s3Url": front.URL})
		m["metadata"] = map[string]any{"name": name, "namespace": "velero"}
		spec := m["spec"].(map[string]any)
		spec["credential"] = credential
		for key, v := range objectStorage {
			spec["objectStorage"].(map[string]any)[key] = v
		}
		data, err := yaml.Marshal(m)
		require.NoError(t, err)
		k.PutVeleroObject(t, "velero", "backupstoragelocations", name, data)
	}
	put("default", map[string]any{"caCertRef": map[string]string{"name": "s3-ca", "key": "ca.crt"}},
		map[string]string{"name": "cloud-credentials", "key": "cloud"})
	put("inline-ca", map[string]any{"caCert": base64.StdEncoding.EncodeToString(front.CAPEM)},
		map[string]string{"name": "cloud-credentials", "key": "cloud"})
	put("wrong-key", nil, map[string]string{"name": "cloud-credentials", "key": "credentials"})

	for _, name := range []string{"default", "inline-ca"} {
		t.Run(name, func(t *testing.T) {
			out, stderr, code := run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--bsl-name", name)
			require.Equal(t, 0, code, "%s\n%s", out, stderr)
			assert.Contains(t, out, "checking BackupStorageLocation velero/"+name+" (provider example.io/s3compat)")
			assert.Contains(t, out, "multipartConcurrency=3", "the ConfigMap's setting is used")
			assert.Contains(t, out, "settings read from ConfigMap velero/s3compat-config")
			assert.Contains(t, out, `✓ TLS certificate of localhost:`, "the CA from the BSL is trusted")
			assert.NotContains(t, out, srv.SecretKey)
			assertNoProbes(t, srv, bucket)
		})
	}
	t.Run("credential Secret without the key", func(t *testing.T) {
		out, stderr, code := run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--bsl-name", "wrong-key")
		assert.Equal(t, 2, code, out)
		assert.Equal(t, `velero-plugin-s3csi doctor: spec.credential: Secret velero/cloud-credentials has no key "credentials" (it has cloud) (or pass --credentials-file)`+"\n", stderr)
	})
	t.Run("no such BSL", func(t *testing.T) {
		_, stderr, code := run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--bsl-name", "nope")
		assert.Equal(t, 2, code)
		assert.Equal(t, `velero-plugin-s3csi doctor: read BackupStorageLocation velero/nope: backupstoragelocations.velero.io "nope" not found`+"\n", stderr)
	})
}

// TestDoctorBSLJSON: --output json is one object a script can read: the
// verdict and each check with its result, and for a failure its fix.
func TestDoctorBSLJSON(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	type line struct{ Check, Result, Seen, Error, Fix string }
	var report struct {
		Location, Provider string
		OK                 bool
		Checks             []line
	}
	decode := func(out string) {
		t.Helper()
		report.Checks = nil
		require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	}

	bucket := srv.MakeBucket(t)
	out, stderr, code := run(t, "--output", "json", "--bsl", writeManifest(t, bsl(bucket, "", map[string]string{"s3Url": srv.Endpoint})),
		"--credentials-file", srv.CredentialsFile(t))
	require.Equal(t, 0, code, stderr)
	decode(out)
	assert.True(t, report.OK)
	assert.Equal(t, "BackupStorageLocation velero/default", report.Location)
	assert.Equal(t, "example.io/s3compat", report.Provider)
	results := map[string]string{}
	for _, l := range report.Checks {
		results[l.Check] = l.Result
		assert.Contains(t, []string{"pass", "note"}, l.Result, "%+v", l)
	}
	assert.Equal(t, "pass", results["credentials accepted by the server"], "%v", results)
	assert.Equal(t, "pass", results["plugin Init (what Velero runs)"], "%v", results)
	assert.Equal(t, "note", results["probe objects removed"], "%v", results)

	out, _, code = run(t, "--output", "json", "--bsl", writeManifest(t, bsl("no-such-bucket", "", map[string]string{"s3Url": srv.Endpoint})),
		"--credentials-file", srv.CredentialsFile(t))
	assert.Equal(t, 1, code)
	decode(out)
	assert.False(t, report.OK)
	var failed []line
	for _, l := range report.Checks {
		if l.Result == "fail" {
			failed = append(failed, l)
		}
	}
	require.Len(t, failed, 1, "%+v", report.Checks)
	assert.Equal(t, `bucket "no-such-bucket" exists in region us-east-1`, failed[0].Check)
	assert.Contains(t, failed[0].Error, `no bucket "no-such-bucket" on `+srv.Endpoint)
	assert.Contains(t, failed[0].Fix, "aws s3 mb s3://no-such-bucket")
	assert.Equal(t, "note", report.Checks[len(report.Checks)-1].Result, "the skipped checks are a note")
	assert.Equal(t, "later checks", report.Checks[len(report.Checks)-1].Check)
}
