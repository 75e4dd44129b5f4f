package snapshotter

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"example.io/velero-plugin-s3csi/config"
)

// readKubeSecret reads a Secret with the pod's service account, or with
// $KUBECONFIG when the plugin runs outside a cluster.
func readKubeSecret(ctx context.Context, namespace, name string) (map[string]string, error) {
	cs, err := config.KubeClient()
	if err != nil {
		return nil, err
	}
	sec, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sec.Data)+len(sec.StringData))
	for k, v := range sec.Data {
		out[k] = string(v)
	}
	for k, v := range sec.StringData {
		out[k] = v
	}
	return out, nil
}
