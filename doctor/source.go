package doctor

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// Session is what doctor and verify set up before they read a location:
// the plugin's kube client, which finds the cluster and Velero's
// namespace in the environment as it does inside Velero; a folder for the
// files Secrets are written to; a logger on stderr at logLevel (already
// checked by the caller's flags).
type Session struct {
	Kube *kube.Client
	Dir  string
	Log  *logrus.Logger
}

// NewSession sets it up for the command named name; Close removes the
// folder.
func NewSession(name, kubeconfig, namespace, logLevel string, stderr io.Writer) (*Session, error) {
	if kubeconfig != "" {
		os.Setenv("KUBECONFIG", kubeconfig)
	}
	os.Setenv("VELERO_NAMESPACE", namespace)
	dir, err := os.MkdirTemp("", "s3csi-"+name+"-")
	if err != nil {
		return nil, err
	}
	log := logrus.New()
	log.SetOutput(stderr)
	log.Level, _ = logrus.ParseLevel(logLevel)
	return &Session{Kube: kube.New(), Dir: dir, Log: log}, nil
}

// Close removes the session's folder and the Secrets in it.
func (s *Session) Close() { os.RemoveAll(s.Dir) }

// Location is a BackupStorageLocation read the way doctor reads one,
// for the other commands that work on a BSL (verify): its name and the
// config map Velero would hand the plugin, Secrets written to files
// under the folder the caller gave.
type Location struct {
	Name     string // "BackupStorageLocation namespace/name"
	Provider string
	Config   map[string]string
	// Err is why a location of the namespace could not be read (a
	// Secret it names is not there); Config is then partial.
	Err error
}

// ReadBSL reads one BackupStorageLocation: from file (credsFile, when
// given, in place of its spec.credential), or by name from namespace in
// the cluster. dir takes the files Secrets are written to.
func ReadBSL(ctx context.Context, k *kube.Client, namespace, file, name, credsFile, dir string) (Location, error) {
	o := &options{bslFile: file, bslName: name, namespace: namespace, credentialsFile: credsFile, isBSL: true, fromCluster: name != ""}
	loc, err := load(ctx, o, k, dir)
	if err != nil {
		return Location{}, err
	}
	return Location{Name: loc.String(), Provider: loc.provider, Config: loc.config}, nil
}

// ReadBSLs reads every BackupStorageLocation of this plugin's provider
// in namespace; skipped names those of other providers. A BSL that
// cannot be read comes back with its Err set.
func ReadBSLs(ctx context.Context, k *kube.Client, namespace, dir string) (locs []Location, skipped []string, err error) {
	lctx, cancel := context.WithTimeout(ctx, 2*kube.Timeout)
	items, err := k.VeleroObjects(lctx, namespace, "backupstoragelocations")
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("list BackupStorageLocations in namespace %s: %w", namespace, err)
	}
	for _, item := range items {
		m, err := parseManifest(item, "BackupStorageLocation")
		if err != nil {
			return nil, nil, fmt.Errorf("a BackupStorageLocation in namespace %s: %w", namespace, err)
		}
		if m.Spec.Provider != objectstore.Name {
			skipped = append(skipped, fmt.Sprintf("BackupStorageLocation %s/%s (provider %s)", m.Metadata.Namespace, m.Metadata.Name, m.Spec.Provider))
			continue
		}
		loc, err := build(ctx, m, "", dir, k)
		locs = append(locs, Location{Name: loc.String(), Provider: loc.provider, Config: loc.config, Err: err})
	}
	return locs, skipped, nil
}
