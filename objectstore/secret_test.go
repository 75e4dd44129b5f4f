package objectstore_test

import (
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// Init reads the SSE-C key's Secret through its real client-go code; a
// Secret or key that is not there fails Init naming both, never the key.
// Init makes no S3 request here, so no S3 server is needed.
func TestCustomerKeySecretAtInit(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	k := testenv.StartKubeAPI(t)
	t.Setenv("KUBECONFIG", k.Kubeconfig)
	t.Setenv("VELERO_NAMESPACE", "velero")
	k.PutSecret("velero", "sse", map[string]string{"key": key, "short": "abc"})
	creds := testenv.WriteCredentialsFile(t, "default", "a", "b")
	tests := []struct {
		ref  string
		want string // "" for success
	}{
		{"sse/key", ""},
		{"sse/short", `names key "short" of Secret velero/sse, which must hold exactly 32 bytes (an AES-256 key), holds 3`},
		{"sse/missing", `names key "missing" that Secret velero/sse does not have`},
		{"nope/key", `names Secret velero/nope, which cannot be read: secrets "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			logs := testenv.NewLogCapture(logrus.DebugLevel)
			err := objectstore.New(logs.Logger, kube.New()).Init(map[string]string{"bucket": "b", "s3Url": "http://127.0.0.1:1",
				"credentialsFile": creds, "customerKeyEncryptionSecret": tt.ref})
			assert.NotContains(t, logs.Text(), key)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "<redacted> (customerKeyEncryptionSecret in BSL config)", settingsLine(t, logs, 1)["sseCustomerKey"])
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), `invalid value for "customerKeyEncryptionSecret" in BSL config: "`+tt.ref+`" `+tt.want)
			assert.NotContains(t, err.Error(), key)
		})
	}
}
