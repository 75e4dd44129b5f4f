package verify_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// TestVerifyInCluster reads the BSLs, their credential and age identity
// Secrets from an API server through the plugin's client-go code, as the
// CronJob does in Velero's namespace: --bsl-name, and --all past a BSL
// that cannot be read and one of another provider.
func TestVerifyInCluster(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	key := testenv.NewAgeKey(t)
	bucket := srv.MakeBucket(t)
	writer := newLocation(t, srv, bucket, "cluster-a", map[string]string{"encryptionRecipients": key.Recipient})
	writeBackup(t, writer.store, bucket, "cluster-a", backupSpec{name: "nightly"})

	k := testenv.StartKubeAPI(t)
	creds, err := os.ReadFile(srv.CredentialsFile(t))
	require.NoError(t, err)
	k.PutSecret("velero", "cloud-credentials", map[string]string{"cloud": string(creds)})
	k.PutSecret("velero", "velero-backup-age", map[string]string{"key.txt": string(key.KeyFile)})
	put := func(name, provider, credKey string) {
		data, err := yaml.Marshal(map[string]any{
			"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
			"metadata": map[string]any{"name": name, "namespace": "velero"},
			"spec": map[string]any{
				"provider":      provider,
				"objectStorage": map[string]any{"bucket": bucket, "prefix": "cluster-a"},
				"credential":    map[string]string{"name": "cloud-credentials", "key": credKey},
				"config": map[string]string{"s3Url": srv.Endpoint, "region": "minio", "encryptionRecipients": key.Recipient,
					"encryptionIdentitySecret": "velero-backup-age/key.txt"},
			},
		})
		require.NoError(t, err)
		k.PutVeleroObject(t, "velero", "backupstoragelocations", name, data)
	}
	put("default", "example.io/s3compat", "cloud")
	put("broken", "example.io/s3compat", "credentials")
	put("aws", "velero.io/aws", "cloud")

	out, stderr, code := run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--bsl-name", "default", "--progress-interval", "1ns")
	require.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Equal(t, "backup nightly: all 5 checks passed", backupLines(out, "nightly")[5], out)
	assert.Contains(t, backupLines(out, "nightly")[2], "✓ age encryption of nightly.tar.gz: age header with 1 X25519 recipient stanzas; opened by the identity of "+key.Recipient[:12])
	assert.Contains(t, stderr, "verify: reading cluster-a/backups/nightly/nightly.tar.gz: ", "progress lines during the read")
	assert.NotContains(t, out+stderr, key.Identity)
	assert.NotContains(t, out+stderr, srv.SecretKey)

	out, stderr, code = run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--all")
	assert.Equal(t, 1, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "verifying BackupStorageLocation velero/broken\n"+
		`✗ read the location: spec.credential: Secret velero/cloud-credentials has no key "credentials" (it has cloud) (or pass --credentials-file)`+"\n"+
		"BackupStorageLocation velero/broken: not verified\n")
	assert.Contains(t, out, "BackupStorageLocation velero/default: 1 backups, 1 passed, 0 failed\n")
	assert.Contains(t, out, "\n2 locations verified in namespace velero: 1 passed, 1 failed; not this plugin's, so not verified: BackupStorageLocation velero/aws (provider velero.io/aws)\n")
}
