package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/kube"
)

// manifest is what doctor reads of a BackupStorageLocation or
// VolumeSnapshotLocation: the fields Velero turns into the plugin's
// config (pkg/persistence/object_store.go, pkg/volume).
type manifest struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Provider      string            `json:"provider"`
		Config        map[string]string `json:"config"`
		Credential    *secretKey        `json:"credential"`
		ObjectStorage *struct {
			Bucket    string     `json:"bucket"`
			Prefix    string     `json:"prefix"`
			CACert    []byte     `json:"caCert"` // base64 in the manifest, as the API has it
			CACertRef *secretKey `json:"caCertRef"`
		} `json:"objectStorage"`
	} `json:"spec"`
}

type secretKey struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// location is a BSL or VSL made ready for the plugin's Init: its provider
// and the config map Velero would hand over.
type location struct {
	kind     string // BackupStorageLocation or VolumeSnapshotLocation
	name     string // namespace/name
	provider string
	config   map[string]string
}

func (l location) String() string { return l.kind + " " + l.name }

func parseManifest(data []byte, want string) (*manifest, error) {
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a %s manifest: %w", want, err)
	}
	if m.Kind != want {
		return nil, fmt.Errorf("kind is %q, not %s", m.Kind, want)
	}
	if m.Spec.Provider == "" {
		return nil, fmt.Errorf("%s %s has no spec.provider", want, m.Metadata.Name)
	}
	if m.Metadata.Namespace == "" {
		m.Metadata.Namespace = kube.VeleroNamespace()
	}
	return &m, nil
}

// secrets reads Secret keys for a location: from the cluster when doctor
// has one, else it cannot.
type secrets interface {
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// build turns a manifest into the config Velero hands the plugin. A
// spec.credential becomes credentialsFile: credsFile when the user gave
// one, else the Secret's key written to a private file under dir, which
// is where Velero's server puts it too.
func build(ctx context.Context, m *manifest, credsFile, dir string, k secrets) (location, error) {
	l := location{kind: m.Kind, name: m.Metadata.Namespace + "/" + m.Metadata.Name, provider: m.Spec.Provider, config: map[string]string{}}
	for key, v := range m.Spec.Config {
		l.config[key] = v
	}
	if st := m.Spec.ObjectStorage; st != nil {
		l.config["bucket"], l.config["prefix"] = st.Bucket, st.Prefix
		switch {
		case st.CACertRef != nil:
			v, err := secretValue(ctx, k, m.Metadata.Namespace, *st.CACertRef)
			if err != nil {
				return l, fmt.Errorf("spec.objectStorage.caCertRef: %w", err)
			}
			l.config["caCert"] = string(v)
		case len(st.CACert) > 0:
			l.config["caCert"] = string(st.CACert)
		}
	}
	switch {
	case credsFile != "":
		l.config["credentialsFile"] = credsFile
	case m.Spec.Credential != nil:
		v, err := secretValue(ctx, k, m.Metadata.Namespace, *m.Spec.Credential)
		if err != nil {
			return l, fmt.Errorf("spec.credential: %w (or pass --credentials-file)", err)
		}
		path := filepath.Join(dir, "credentials-"+m.Spec.Credential.Name+"-"+m.Spec.Credential.Key)
		if err := os.WriteFile(path, v, 0o600); err != nil {
			return l, fmt.Errorf("spec.credential: %w", err)
		}
		l.config["credentialsFile"] = path
	}
	return l, nil
}

func secretValue(ctx context.Context, k secrets, ns string, ref secretKey) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("Secret %s/%s is in the cluster, and doctor was given no cluster (--kubeconfig, or run it in Velero's namespace)", ns, ref.Name)
	}
	data, err := k.Secret(ctx, ns, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", ns, ref.Name, err)
	}
	v, ok := data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s has no key %q (it has %s)", ns, ref.Name, ref.Key, keysOf(data))
	}
	return v, nil
}

func keysOf(data map[string][]byte) string {
	var ks []string
	for k := range data {
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}
