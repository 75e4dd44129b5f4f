package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// Velero calls Init for every BSL validation and every restored PV: the
// client is built once per place, not once per read.
func TestRESTClientBuiltOnce(t *testing.T) {
	c := New()
	t.Setenv("KUBECONFIG", testenv.WriteKubeconfig(t, "http://127.0.0.1:1"))
	first, err := c.restClient()
	require.NoError(t, err)
	again, err := c.restClient()
	require.NoError(t, err)
	assert.Same(t, first, again)

	t.Setenv("KUBECONFIG", testenv.WriteKubeconfig(t, "http://127.0.0.1:2"))
	other, err := c.restClient()
	require.NoError(t, err)
	assert.NotSame(t, first, other, "a new KUBECONFIG is a new client")
}
