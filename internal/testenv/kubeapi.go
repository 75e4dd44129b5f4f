package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// KubeAPI is a fake Kubernetes API server that serves just what the
// plugin asks of one: listing ConfigMaps by label and getting Secrets.
// The plugin reaches it through its real client-go code and a kubeconfig,
// so the lookup, the label selector and the timeouts are what production
// runs; `make e2e` runs the same against a real kube-apiserver.
type KubeAPI struct {
	URL        string
	Kubeconfig string

	mu         sync.Mutex
	configMaps []corev1.ConfigMap
	secrets    []corev1.Secret
	velero     map[string][]byte // velero.io/v1 objects by "namespace/resource/name", as JSON
	// Hang makes every request wait until the client gives up.
	Hang bool
}

// StartKubeAPI serves on 127.0.0.1 until the test ends.
func StartKubeAPI(t T) *KubeAPI {
	t.Helper()
	k := &KubeAPI{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(k.serve)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	k.URL = "http://" + l.Addr().String()
	k.Kubeconfig = WriteKubeconfig(t, k.URL)
	return k
}

// WriteKubeconfig writes a kubeconfig for an unauthenticated server.
func WriteKubeconfig(t T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q}}]
users: [{name: test, user: {}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, server)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// PutConfigMap adds or replaces a ConfigMap.
func (k *KubeAPI) PutConfigMap(ns, name string, lbls, data map[string]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cm := corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Data:       data,
	}
	for i := range k.configMaps {
		if k.configMaps[i].Namespace == ns && k.configMaps[i].Name == name {
			k.configMaps[i] = cm
			return
		}
	}
	k.configMaps = append(k.configMaps, cm)
}

// PutSecret adds or replaces a Secret.
func (k *KubeAPI) PutSecret(ns, name string, data map[string]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for key, v := range data {
		s.Data[key] = []byte(v)
	}
	for i := range k.secrets {
		if k.secrets[i].Namespace == ns && k.secrets[i].Name == name {
			k.secrets[i] = s
			return
		}
	}
	k.secrets = append(k.secrets, s)
}

// PutVeleroObject adds or replaces a velero.io/v1 object, such as a
// BackupStorageLocation under resource "backupstoragelocations", given as
// YAML or JSON.
func (k *KubeAPI) PutVeleroObject(t T, ns, resource, name string, manifest []byte) {
	t.Helper()
	data, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		t.Fatalf("velero object %s/%s/%s: %v", ns, resource, name, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.velero == nil {
		k.velero = map[string][]byte{}
	}
	k.velero[ns+"/"+resource+"/"+name] = data
}

// PluginLabels are the labels Velero's convention puts on a plugin's
// ConfigMap.
func PluginLabels(plugin, kind string) map[string]string {
	return map[string]string{"velero.io/plugin-config": "", plugin: kind}
}

func (k *KubeAPI) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	hang := k.Hang
	k.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // api v1 namespaces NS RESOURCE [NAME]
	if r.Method == http.MethodGet && len(parts) == 7 && parts[0] == "apis" && parts[1] == "velero.io" && parts[2] == "v1" && parts[3] == "namespaces" {
		k.serveVelero(w, parts[4], parts[5], parts[6])
		return
	}
	if r.Method == http.MethodGet && len(parts) == 6 && parts[0] == "apis" && parts[1] == "velero.io" && parts[2] == "v1" && parts[3] == "namespaces" {
		k.listVelero(w, parts[4], parts[5])
		return
	}
	if r.Method != http.MethodGet || len(parts) < 5 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" {
		k.status(w, http.StatusNotFound, "NotFound", "not served by the test API")
		return
	}
	ns, resource := parts[3], parts[4]
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case resource == "configmaps" && len(parts) == 5:
		sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
		if err != nil {
			k.status(w, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		list := corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}}
		for _, cm := range k.configMaps {
			if cm.Namespace == ns && sel.Matches(labels.Set(cm.Labels)) {
				list.Items = append(list.Items, cm)
			}
		}
		k.json(w, list)
	case resource == "secrets" && len(parts) == 6:
		for _, s := range k.secrets {
			if s.Namespace == ns && s.Name == parts[5] {
				k.json(w, s)
				return
			}
		}
		k.status(w, http.StatusNotFound, "NotFound", fmt.Sprintf("secrets %q not found", parts[5]))
	default:
		k.status(w, http.StatusNotFound, "NotFound", "not served by the test API")
	}
}

func (k *KubeAPI) serveVelero(w http.ResponseWriter, ns, resource, name string) {
	k.mu.Lock()
	data, ok := k.velero[ns+"/"+resource+"/"+name]
	k.mu.Unlock()
	if !ok {
		k.status(w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s.velero.io %q not found", resource, name))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// listVelero serves a list of velero.io/v1 objects, by name, as the API
// server does.
func (k *KubeAPI) listVelero(w http.ResponseWriter, ns, resource string) {
	k.mu.Lock()
	var names []string
	for key := range k.velero {
		if name, ok := strings.CutPrefix(key, ns+"/"+resource+"/"); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	items := make([]json.RawMessage, 0, len(names))
	for _, name := range names {
		items = append(items, k.velero[ns+"/"+resource+"/"+name])
	}
	k.mu.Unlock()
	k.json(w, map[string]any{"apiVersion": "velero.io/v1", "kind": "List", "metadata": map[string]any{}, "items": items})
}

func (k *KubeAPI) json(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (k *KubeAPI) status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status: "Failure", Message: msg, Reason: metav1.StatusReason(reason), Code: int32(code)})
}

// NoAmbientKubernetes keeps a developer's cluster out of the tests: the
// plugin (and the plugin processes the tests start) would otherwise read
// ConfigMaps through $KUBECONFIG or an in-cluster service account. Tests
// that want an API set KUBECONFIG themselves.
func NoAmbientKubernetes() {
	os.Setenv("KUBECONFIG", "")
	os.Unsetenv("KUBERNETES_SERVICE_HOST")
	os.Unsetenv("VELERO_NAMESPACE")
}
