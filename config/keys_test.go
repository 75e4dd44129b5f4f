package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The defaults are the tables' Default values, fed through the keys' own
// setters: these are the values the plugin has always had.
func TestDefaultsFromTheKeyTables(t *testing.T) {
	o := DefaultObjectStore()
	assert.Equal(t, ObjectStore{
		PartSize: 8 << 20, Concurrency: 4, RequestTimeout: time.Minute, StallTimeout: 2 * time.Minute, MaxRetries: 5,
		ProgressInterval: 5 * time.Second, StaleUploadAge: 72 * time.Hour, MemoryBudget: DefaultMemoryBudget,
	}, o)
	assert.Equal(t, Snapshotter{
		OperationTimeout: time.Minute, DialTimeout: 10 * time.Second, SnapshotReadyTimeout: 10 * time.Minute,
		PollInterval: 5 * time.Second, MaxRetries: 5,
	}, DefaultSnapshotter())
}

// Each entry has what its kind needs: a setter, help, and a Where that
// the ConfigMap check can use.
func TestKeyTablesAreWhole(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range objectStoreKeys {
		assert.False(t, seen[k.Name], "objectStore key %s declared twice", k.Name)
		seen[k.Name] = true
		assert.NotNil(t, k.Set, k.Name)
		assert.False(t, k.Prefix, k.Name)
		assert.False(t, k.Spec != "" && k.Where == InConfigMapToo, "%s comes from the BSL's spec, never a ConfigMap", k.Name)
	}
	seen = map[string]bool{}
	for _, k := range snapshotterKeys {
		assert.False(t, seen[k.Name], "snapshotter key %s declared twice", k.Name)
		seen[k.Name] = true
		if k.Prefix {
			assert.NotNil(t, k.SetNamed, k.Name)
		} else {
			assert.NotNil(t, k.Set, k.Name)
		}
	}
}

func TestUnknownKeySuggestion(t *testing.T) {
	bsl := func(k, v string) Layer {
		return Layer{Name: "BSL config", Values: map[string]string{"bucket": "b", k: v}}
	}
	for _, tc := range []struct{ key, want string }{
		{"s3URL", `did you mean "s3Url"?`},
		{"multipartPartsize", `did you mean "multipartPartSize"?`},
		{"requestTimeot", `did you mean "requestTimeout"?`},
		{"kmsKeyID", `did you mean "kmsKeyId"?`},
	} {
		_, err := ParseObjectStore(bsl(tc.key, "x"))
		require.Error(t, err, tc.key)
		assert.Contains(t, err.Error(), `unknown key "`+tc.key+`" in BSL config; valid keys are bucket, caCert, `)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, err := ParseObjectStore(bsl("somethingElseEntirely", "x"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "did you mean")

	vsl := Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "Parameters.type": "x"}}
	_, err = ParseSnapshotter(vsl)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown key "Parameters.type" in VSL config; valid keys are `)
	assert.Contains(t, err.Error(), `did you mean "parameters.<name>"?`)
	assert.NotContains(t, err.Error(), "credentialsFile", "a key Velero adds is never offered")
}

// Prefix keys show on the settings line, and on doctor's line, with the
// layer that set them.
func TestPrefixKeysShowTheirOrigin(t *testing.T) {
	s, err := ParseSnapshotter(Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "parameters.type": "snap"}})
	require.NoError(t, err)
	assert.Equal(t, "type=snap (VSL config)", s.Fields()["parameters"])
	assert.Equal(t, "none (default)", s.Fields()["restoreParameters"])
	assert.Equal(t, "driver=d (VSL config), parameters=type=snap (VSL config)", s.SetKeys())
}

// Doctor's line lists every key that was set, secrets masked.
func TestObjectStoreSetKeys(t *testing.T) {
	o, err := ParseObjectStore(
		Layer{Name: "BSL config", Values: map[string]string{"bucket": "b", "prefix": "p", "s3Url": "http://minio:9000", "customerKeyEncryptionSecret": "sse/key"}},
		Layer{Name: "ConfigMap velero/c", TunablesOnly: true, Values: map[string]string{"maxRetries": "2"}})
	require.NoError(t, err)
	assert.Equal(t, "bucket=b (BSL config), customerKeyEncryptionSecret=sse/key (BSL config), maxRetries=2 (ConfigMap velero/c), "+
		"prefix=p (BSL config), s3Url=http://minio:9000 (BSL config)", o.SetKeys())
}
