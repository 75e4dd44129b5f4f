package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

var kubeClients struct {
	sync.Mutex
	byWhere map[string]kubernetes.Interface
}

// KubeClient returns a client for the pod's service account, or for
// $KUBECONFIG when the plugin runs outside a cluster (the local demo,
// `velero server --kubeconfig`). Every Init asks for one: the client is
// built once per process and place, not once per Init.
func KubeClient() (kubernetes.Interface, error) {
	where := os.Getenv("KUBERNETES_SERVICE_HOST") + "|" + os.Getenv("KUBECONFIG")
	kubeClients.Lock()
	defer kubeClients.Unlock()
	if cs, ok := kubeClients.byWhere[where]; ok {
		return cs, nil
	}
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
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if kubeClients.byWhere == nil {
		kubeClients.byWhere = map[string]kubernetes.Interface{}
	}
	kubeClients.byWhere[where] = cs
	return cs, nil
}

// ReadSecret returns the data of a Secret. Callers pass it on (CSI
// secrets, an SSE-C key) and never log it.
func ReadSecret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	cs, err := KubeClient()
	if err != nil {
		return nil, err
	}
	sec, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return sec.Data, nil
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
// <name>: <kind> in Velero's namespace, with Velero's label selector.
// None: defaults. More than one: an error naming them. No API reachable:
// defaults and a warning, within KubeTimeout.
func LoadPluginConfig(kind common.PluginKind, name string) (PluginConfig, error) {
	ns := VeleroNamespace()
	selector := common.PluginConfigLabelSelector(kind, name)
	cs, err := KubeClient()
	if err != nil {
		return PluginConfig{Warn: true, Note: fmt.Sprintf("plugin ConfigMap not read (%v); using defaults", err)}, nil
	}
	// Listed here rather than through Velero's common.GetPluginConfig,
	// whose two failures (API away, two ConfigMaps) differ only in text.
	ctx, cancel := context.WithTimeout(context.Background(), KubeTimeout)
	defer cancel()
	list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return PluginConfig{Warn: true, Note: fmt.Sprintf("plugin ConfigMap not read from namespace %s (%v); using defaults", ns, err)}, nil
	}
	switch len(list.Items) {
	case 0:
		return PluginConfig{Note: fmt.Sprintf("no plugin ConfigMap labeled %s in namespace %s; using defaults", selector, ns)}, nil
	case 1:
		where := fmt.Sprintf("ConfigMap %s/%s", ns, list.Items[0].Name)
		return PluginConfig{Layer: &Layer{Name: where, Values: list.Items[0].Data, TunablesOnly: true}, Note: "settings read from " + where}, nil
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	return PluginConfig{}, fmt.Errorf("found more than one ConfigMap labeled %s in namespace %s: %v; keep one", selector, ns, names)
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
