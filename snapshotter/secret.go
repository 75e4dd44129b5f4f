package snapshotter

import (
	"context"

	"example.io/velero-plugin-s3csi/kube"
)

// csiSecrets reads a Secret as the CSI secrets every call to the driver
// carries; they are never logged.
func csiSecrets(ctx context.Context, k kube.Reader, namespace, name string) (map[string]string, error) {
	data, err := k.Secret(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(data))
	for key, v := range data {
		out[key] = string(v)
	}
	return out, nil
}
