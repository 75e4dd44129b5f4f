// Package kube is every read the plugins make of the Kubernetes API: the
// plugin ConfigMap and Secrets (CSI secrets, the SSE-C key). Both plugins
// are handed one Reader, so config/ only parses and a parse needs no API.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"example.io/velero-plugin-s3csi/config"
)

// Timeout bounds every request to the Kubernetes API: a plugin whose API
// server is away must not hang a backup.
const Timeout = 5 * time.Second

// ErrNoAPI says that neither an in-cluster service account nor
// $KUBECONFIG names a Kubernetes API server.
var ErrNoAPI = errors.New("no Kubernetes API: no in-cluster service account and no KUBECONFIG")

// Reader is what the plugins read of Kubernetes.
type Reader interface {
	// PluginConfig finds the plugin's ConfigMap in Velero's namespace.
	PluginConfig(ctx context.Context, kind, name string) (config.PluginConfig, error)
	// Secret returns the data of a Secret. Callers pass it on and never
	// log it.
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// Client reads through client-go's REST client with the pod's service
// account, or with $KUBECONFIG when the plugin runs outside a cluster (the
// local demo, `velero server --kubeconfig`). It knows core/v1 only: the
// typed clientset would register every API group at process start, about
// 10 MiB of a plugin's memory for two kinds of reads.
type Client struct {
	mu      sync.Mutex
	byWhere map[string]rest.Interface
}

// coreV1 decodes core/v1 objects and the API's Status errors.
var coreV1 = func() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		panic(err) // a fixed set of types: cannot fail at run time
	}
	return serializer.NewCodecFactory(scheme)
}()

var _ Reader = (*Client)(nil)

// New returns a Client; main builds one per process and hands it to both
// plugins. It asks nothing of the API until the first read.
func New() *Client {
	return &Client{}
}

// restClient is built at the first read and then reused by every Init,
// once per place the API is found at (tests move $KUBECONFIG).
func (c *Client) restClient() (rest.Interface, error) {
	where := os.Getenv("KUBERNETES_SERVICE_HOST") + "|" + os.Getenv("KUBECONFIG")
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.byWhere[where]; ok {
		return rc, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		path := os.Getenv("KUBECONFIG")
		if path == "" {
			return nil, ErrNoAPI
		}
		if cfg, err = clientcmd.BuildConfigFromFlags("", path); err != nil {
			return nil, fmt.Errorf("KUBECONFIG %s: %w", path, err)
		}
	}
	cfg.Timeout = Timeout
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = coreV1.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, err
	}
	if c.byWhere == nil {
		c.byWhere = map[string]rest.Interface{}
	}
	c.byWhere[where] = rc
	return rc, nil
}

// Secret returns the data of Secret namespace/name, within Timeout.
func (c *Client) Secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	rc, err := c.restClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var sec corev1.Secret
	if err := rc.Get().Namespace(namespace).Resource("secrets").Name(name).Do(ctx).Into(&sec); err != nil {
		return nil, err
	}
	return sec.Data, nil
}

// PluginConfig finds the ConfigMap labeled velero.io/plugin-config and
// <name>: <kind> in Velero's namespace, with Velero's label selector.
// None: defaults. More than one: an error naming them. No API reachable:
// defaults and a warning, within Timeout.
func (c *Client) PluginConfig(ctx context.Context, kind, name string) (config.PluginConfig, error) {
	ns := VeleroNamespace()
	selector := fmt.Sprintf("velero.io/plugin-config,%s=%s", name, kind) // Velero's common.PluginConfigLabelSelector
	rc, err := c.restClient()
	if err != nil {
		return config.PluginConfig{Warn: true, Note: fmt.Sprintf("plugin ConfigMap not read (%v); using defaults", err)}, nil
	}
	// Listed here rather than through Velero's common.GetPluginConfig,
	// whose two failures (API away, two ConfigMaps) differ only in text.
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var list corev1.ConfigMapList
	if err := rc.Get().Namespace(ns).Resource("configmaps").Param("labelSelector", selector).Do(ctx).Into(&list); err != nil {
		return config.PluginConfig{Warn: true, Note: fmt.Sprintf("plugin ConfigMap not read from namespace %s (%v); using defaults", ns, err)}, nil
	}
	switch len(list.Items) {
	case 0:
		return config.PluginConfig{Note: fmt.Sprintf("no plugin ConfigMap labeled %s in namespace %s; using defaults", selector, ns)}, nil
	case 1:
		where := fmt.Sprintf("ConfigMap %s/%s", ns, list.Items[0].Name)
		return config.PluginConfig{Layer: &config.Layer{Name: where, Values: list.Items[0].Data, TunablesOnly: true}, Note: "settings read from " + where}, nil
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	return config.PluginConfig{}, fmt.Errorf("found more than one ConfigMap labeled %s in namespace %s: %v; keep one", selector, ns, names)
}

// VeleroNamespace is where Velero runs: $VELERO_NAMESPACE, else velero.
func VeleroNamespace() string {
	if ns := os.Getenv("VELERO_NAMESPACE"); ns != "" {
		return ns
	}
	return "velero"
}

// VeleroObjects returns the JSON of each velero.io/v1 object of resource
// (backupstoragelocations, say) in namespace, within Timeout.
func (c *Client) VeleroObjects(ctx context.Context, namespace, resource string) ([]json.RawMessage, error) {
	rc, err := c.restClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	res := rc.Get().AbsPath("/apis/velero.io/v1", "namespaces", namespace, resource).Do(ctx)
	if err := res.Error(); err != nil {
		return nil, err
	}
	body, err := res.Raw()
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", resource, namespace, err)
	}
	return list.Items, nil
}

// VeleroObject returns the JSON of a velero.io/v1 object, such as
// backupstoragelocations/default, within Timeout. The doctor reads the
// location it checks through it, as Velero's server does.
func (c *Client) VeleroObject(ctx context.Context, namespace, resource, name string) ([]byte, error) {
	rc, err := c.restClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	// Error, not DoRaw's error, reads the API's Status: "... "default"
	// not found" rather than "the server could not find the requested
	// resource", which is also what a cluster without Velero's CRDs says.
	res := rc.Get().AbsPath("/apis/velero.io/v1", "namespaces", namespace, resource, name).Do(ctx)
	if err := res.Error(); err != nil {
		return nil, err
	}
	return res.Raw()
}
