package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeTimeout bounds every request to the Kubernetes API: a plugin whose
// API server is away must not hang a backup.
const KubeTimeout = 5 * time.Second

// ErrNoKubeAPI says that neither an in-cluster service account nor
// $KUBECONFIG names a Kubernetes API server.
var ErrNoKubeAPI = errors.New("no Kubernetes API: no in-cluster service account and no KUBECONFIG")

// KubeClient returns a client for the pod's service account, or for
// $KUBECONFIG when the plugin runs outside a cluster (the local demo,
// `velero server --kubeconfig`).
func KubeClient() (kubernetes.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		path := os.Getenv("KUBECONFIG")
		if path == "" {
			return nil, ErrNoKubeAPI
		}
		if cfg, err = clientcmd.BuildConfigFromFlags("", path); err != nil {
			return nil, fmt.Errorf("KUBECONFIG %s: %w", path, err)
		}
	}
	cfg.Timeout = KubeTimeout
	return kubernetes.NewForConfig(cfg)
}

// VeleroNamespace is where Velero runs: $VELERO_NAMESPACE, else velero.
func VeleroNamespace() string {
	if ns := os.Getenv("VELERO_NAMESPACE"); ns != "" {
		return ns
	}
	return "velero"
}

// PluginConfig is the outcome of looking for the plugin's ConfigMap.
type PluginConfig struct {
	// Layer holds the ConfigMap's data (TunablesOnly); nil when none.
	Layer *Layer
	// Note says what was found, for one log line: Info when Warn is false.
	Note string
	Warn bool
}

// LoadPluginConfig finds the ConfigMap labeled velero.io/plugin-config and
// <name>: <kind> in Velero's namespace with Velero's own lookup. None:
// defaults. More than one: an error naming them. No API reachable:
// defaults and a warning, within KubeTimeout.
func LoadPluginConfig(kind common.PluginKind, name string) (PluginConfig, error) {
	ns := VeleroNamespace()
	selector := common.PluginConfigLabelSelector(kind, name)
	cs, err := KubeClient()
	if err != nil {
		return PluginConfig{Warn: true, Note: fmt.Sprintf("plugin ConfigMap not read (%v); using defaults", err)}, nil
	}
	cm, err := common.GetPluginConfig(kind, name, cs.CoreV1().ConfigMaps(ns))
	switch {
	case err != nil && isMoreThanOne(err):
		return PluginConfig{}, fmt.Errorf("plugin ConfigMap in namespace %s: %w; keep one", ns, err)
	case err != nil:
		return PluginConfig{Warn: true, Note: fmt.Sprintf("plugin ConfigMap not read from namespace %s (%v); using defaults", ns, err)}, nil
	case cm == nil:
		return PluginConfig{Note: fmt.Sprintf("no plugin ConfigMap labeled %s in namespace %s; using defaults", selector, ns)}, nil
	}
	where := fmt.Sprintf("ConfigMap %s/%s", cm.Namespace, cm.Name)
	if cm.Namespace == "" {
		where = fmt.Sprintf("ConfigMap %s/%s", ns, cm.Name)
	}
	return PluginConfig{Layer: &Layer{Name: where, Values: cm.Data, TunablesOnly: true}, Note: "settings read from " + where}, nil
}

// isMoreThanOne recognises Velero's GetPluginConfig error for two matches
// (it has no sentinel).
func isMoreThanOne(err error) bool {
	return strings.Contains(err.Error(), "found more than one ConfigMap")
}

// Layers loads the plugin ConfigMap and returns the location's config
// (named location, e.g. "BSL config") followed by the ConfigMap's data.
func Layers(kind common.PluginKind, name, location string, values map[string]string) ([]Layer, PluginConfig, error) {
	pc, err := LoadPluginConfig(kind, name)
	if err != nil {
		return nil, pc, err
	}
	layers := []Layer{{Name: location, Values: values}}
	if pc.Layer != nil {
		layers = append(layers, *pc.Layer)
	}
	return layers, pc, nil
}

// Log writes the Init lines: a Warning when the API could not be asked,
// then the one Info line of effective settings, which also says what was
// found. Velero validates a BSL every minute with a fresh Init, so this is
// kept to one line when all is well.
func (pc PluginConfig) Log(log logrus.FieldLogger, settings logrus.Fields, msg string) {
	if pc.Warn {
		log.Warn(pc.Note)
	}
	f := logrus.Fields{"pluginConfig": pc.Note}
	for k, v := range settings {
		f[k] = v
	}
	log.WithFields(f).Info(msg)
}
