package snapshotter

import (
	"context"

	"example.io/velero-plugin-s3csi/config"
)

// readKubeSecret reads a Secret with the pod's service account, or with
// $KUBECONFIG when the plugin runs outside a cluster.
func readKubeSecret(ctx context.Context, namespace, name string) (map[string]string, error) {
	data, err := config.ReadSecret(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = string(v)
	}
	return out, nil
}
