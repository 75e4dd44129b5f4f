package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/config"
)

func TestLayers(t *testing.T) {
	bsl := map[string]string{"bucket": "b"}
	cm := &config.Layer{Name: "ConfigMap velero/s3compat-config", Values: map[string]string{"maxRetries": "2"}, TunablesOnly: true}
	tests := []struct {
		name string
		pc   config.PluginConfig
		want []config.Layer
	}{
		{"no ConfigMap", config.PluginConfig{Note: "none"}, []config.Layer{{Name: "BSL config", Values: bsl}}},
		{"API away", config.PluginConfig{Warn: true, Note: "not read"}, []config.Layer{{Name: "BSL config", Values: bsl}}},
		{"ConfigMap after the location", config.PluginConfig{Layer: cm}, []config.Layer{{Name: "BSL config", Values: bsl}, *cm}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, config.Layers(tt.pc, "BSL config", bsl))
		})
	}
}

func TestConfigMapLayer(t *testing.T) {
	cm := config.Layer{Name: "ConfigMap velero/s3compat-config", TunablesOnly: true}
	t.Run("precedence: location > ConfigMap > default", func(t *testing.T) {
		cm.Values = map[string]string{"multipartConcurrency": "8", "maxRetries": "2"}
		c, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b", "multipartConcurrency": "3"}}, cm)
		require.NoError(t, err)
		assert.Equal(t, 3, c.Concurrency)
		assert.Equal(t, 2, c.MaxRetries)
		assert.Equal(t, 5*time.Second, c.ProgressInterval)
		f := c.Fields()
		assert.Equal(t, "3 (BSL config)", f["multipartConcurrency"])
		assert.Equal(t, "2 (ConfigMap velero/s3compat-config)", f["maxRetries"])
		assert.Equal(t, "5s (default)", f["progressInterval"])
	})
	t.Run("bad value names the ConfigMap", func(t *testing.T) {
		cm.Values = map[string]string{"stallTimeout": "forever"}
		_, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "stallTimeout" in ConfigMap velero/s3compat-config: "forever"`)
	})
	t.Run("unknown key names the ConfigMap", func(t *testing.T) {
		cm.Values = map[string]string{"partSize": "8Mi"}
		_, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown key "partSize" in ConfigMap velero/s3compat-config`)
	})
	t.Run("location keys stay in the location", func(t *testing.T) {
		cm.Values = map[string]string{"s3Url": "http://elsewhere:9000"}
		_, err := config.ParseObjectStore(config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "s3Url" is not allowed in ConfigMap velero/s3compat-config`)
	})
	t.Run("snapshotter: precedence and bad values", func(t *testing.T) {
		vcm := config.Layer{Name: "ConfigMap velero/csi-config", TunablesOnly: true, Values: map[string]string{"pollInterval": "2s", "snapshotReadyTimeout": "1h"}}
		s, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "pollInterval": "1s"}}, vcm)
		require.NoError(t, err)
		assert.Equal(t, time.Second, s.PollInterval)
		assert.Equal(t, time.Hour, s.SnapshotReadyTimeout)
		assert.Equal(t, "1h0m0s (ConfigMap velero/csi-config)", s.Fields()["snapshotReadyTimeout"])
		vcm.Values = map[string]string{"driver": "other"}
		_, err = config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d"}}, vcm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "driver" is not allowed in ConfigMap velero/csi-config`)
		vcm.Values = map[string]string{"logLevel": "loud"}
		_, err = config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d"}}, vcm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "logLevel" in ConfigMap velero/csi-config: "loud"`)
	})
}

// The SSE-C key's Secret is read at Init (package kube); parsing takes
// the reference, and SetCustomerKeyFromSecret the outcome of the read.
func TestCustomerKeyFromSecret(t *testing.T) {
	bsl := func(ref string, more ...string) config.Layer {
		l := config.Layer{Name: "BSL config", Values: map[string]string{"bucket": "b", "customerKeyEncryptionSecret": ref}}
		for i := 0; i+1 < len(more); i += 2 {
			l.Values[more[i]] = more[i+1]
		}
		return l
	}
	key := "0123456789abcdef0123456789abcdef"
	secret := map[string][]byte{"key": []byte(key), "short": []byte("abc")}

	c, err := config.ParseObjectStore(bsl("sse/key"))
	require.NoError(t, err)
	assert.Equal(t, config.SecretKeyRef{Name: "sse", Key: "key"}, c.CustomerKeySecret)
	assert.Empty(t, c.CustomerKey, "parsing reads no Secret")
	require.NoError(t, c.SetCustomerKeyFromSecret("velero", secret, nil))
	assert.Equal(t, config.Secret(key), c.CustomerKey)
	assert.Equal(t, "<redacted> (customerKeyEncryptionSecret in BSL config)", c.Fields()["sseCustomerKey"])

	_, err = config.ParseObjectStore(bsl("sse/key", "kmsKeyId", "k"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot be combined", "refused before any Secret is read")

	readErr := errors.New(`secrets "nope" not found`)
	tests := []struct {
		ref     string
		data    map[string][]byte
		readErr error
		want    string
	}{
		{"sse/short", secret, nil, `"sse/short" names key "short" of Secret velero/sse, which must hold exactly 32 bytes (an AES-256 key), holds 3`},
		{"sse/missing", secret, nil, `"sse/missing" names key "missing" that Secret velero/sse does not have`},
		{"nope/key", nil, readErr, `"nope/key" names Secret velero/nope, which cannot be read: secrets "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			c, err := config.ParseObjectStore(bsl(tt.ref))
			require.NoError(t, err)
			err = c.SetCustomerKeyFromSecret("velero", tt.data, tt.readErr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `invalid value for "customerKeyEncryptionSecret" in BSL config: `+tt.want)
			assert.NotContains(t, err.Error(), "0123456789abcdef")
			if tt.readErr != nil {
				assert.ErrorIs(t, err, tt.readErr)
			}
			assert.Empty(t, c.CustomerKey)
		})
	}
}
