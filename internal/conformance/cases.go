// Package conformance is the plugin's one conformance suite, written once
// with no Velero import: the ObjectStore cases (ObjectStoreCases), the
// VolumeSnapshotter's backup, restore and delete order, and the
// PluginLister.
//
// `make test` runs the ObjectStore cases on MinIO and versitygw, in
// process and through Velero v1.18's plugin host (objectstore's
// TestConformance), and every case through that host as a `make compat`
// host does (hack/compat's TestSuiteThroughVelerosHost). `make compat`
// runs every case through each Velero
// release's own host (pkg/plugin/clientmgmt) against the built plugin
// binary, a real MinIO and a real CSI driver process: each host module
// (hack/compat/<release>) is a thin main that builds that release's host
// and calls Main.
//
// It is a module of its own so that each host module keeps its own
// release's versions; its requirements are pinned at the oldest host's.
package conformance

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// ObjectStore has the method set of Velero's velero.ObjectStore
// (pkg/plugin/velero/object_store.go), unchanged from v1.14 to v1.18.
type ObjectStore interface {
	Init(config map[string]string) error
	PutObject(bucket, key string, body io.Reader) error
	ObjectExists(bucket, key string) (bool, error)
	GetObject(bucket, key string) (io.ReadCloser, error)
	ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error)
	ListObjects(bucket, prefix string) ([]string, error)
	DeleteObject(bucket, key string) error
	CreateSignedURL(bucket, key string, ttl time.Duration) (string, error)
}

// VolumeSnapshotter has the method set of Velero's volumesnapshotter/v1
// VolumeSnapshotter, unchanged from v1.14 to v1.18.
type VolumeSnapshotter interface {
	Init(config map[string]string) error
	CreateVolumeFromSnapshot(snapshotID, volumeType, volumeAZ string, iops *int64) (volumeID string, err error)
	GetVolumeID(pv runtime.Unstructured) (string, error)
	SetVolumeID(pv runtime.Unstructured, volumeID string) (runtime.Unstructured, error)
	GetVolumeInfo(volumeID, volumeAZ string) (string, *int64, error)
	CreateSnapshot(volumeID, volumeAZ string, tags map[string]string) (snapshotID string, err error)
	DeleteSnapshot(snapshotID string) error
}

// Plugin is one entry of the host's registry (framework.PluginIdentifier).
type Plugin struct {
	Command string `json:"command"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
}

// Host is a release's plugin host, as the host module wires it.
type Host struct {
	ObjectStore       func(name string) (ObjectStore, error)
	VolumeSnapshotter func(name string) (VolumeSnapshotter, error)
	Plugins           func() []Plugin // every kind the registry lists
}

// Start builds a release's host on a plugin folder, as `velero server
// <serverArgs>` with features enabled does; the host logs to logs as JSON
// lines (logrus.JSONFormatter) at debug level. stop ends the plugin
// processes.
type Start func(pluginDir string, logs io.Writer, serverArgs, features []string) (h Host, stop func(), err error)

// Cell is one cell of the table: green when Failures is empty.
type Cell struct {
	Failures []string `json:"failures,omitempty"`
}

// OK reports whether the cell is green.
func (c Cell) OK() bool { return len(c.Failures) == 0 }

func (c *Cell) fail(format string, args ...any) {
	c.Failures = append(c.Failures, fmt.Sprintf(format, args...))
}

// Result is what a host run writes to --result for the orchestrator.
type Result struct {
	Velero            string `json:"velero"` // the version of Velero linked into the host, from its build info
	ObjectStore       Cell   `json:"objectStore"`
	VolumeSnapshotter Cell   `json:"volumeSnapshotter"`
	PluginLister      Cell   `json:"pluginLister"`
	// SnapshotID is the snapshot the VolumeSnapshotter cases made and
	// deleted: the orchestrator asks the driver that it is gone.
	SnapshotID string `json:"snapshotID,omitempty"`
}

// ServerArgs are the flags the host is started with, as `velero server`
// takes them: Velero v1.15 and later hand them all to every plugin, v1.14
// hands only --log-level and --features (from its feature set).
var ServerArgs = []string{"--log-level=debug", "--features=EnableCSI", "--uploader-type=kopia",
	"--default-volumes-to-fs-backup", "--keep-latest-maintenance-jobs", "3"}

// Features is what --features enables in the host's feature set.
var Features = []string{"EnableCSI"}

// Main runs every case through the host that start builds and writes
// the result; it exits 1 when a cell is red, 2 when it could not run.
func Main(start Start) {
	var cfg Config
	var resultPath string
	flag.StringVar(&cfg.PluginDir, "plugin-dir", "", "the folder holding the built plugin binary (Velero's --plugin-dir)")
	flag.StringVar(&cfg.S3URL, "s3-url", "", "the S3 endpoint (MinIO on 127.0.0.1)")
	flag.StringVar(&cfg.Bucket, "bucket", "", "an empty bucket for the ObjectStore cases")
	flag.StringVar(&cfg.CredentialsFile, "credentials-file", "", "an AWS shared-credentials file for the bucket")
	flag.StringVar(&cfg.CSIDriver, "csi-driver", "", "the CSI driver's name")
	flag.StringVar(&cfg.CSIEndpoint, "csi-endpoint", "", "the CSI driver's controller endpoint (unix://)")
	flag.StringVar(&cfg.VolumeID, "volume-id", "", "a volume of that driver to back up")
	flag.StringVar(&resultPath, "result", "", "where to write the result (JSON)")
	flag.Parse()
	if cfg.PluginDir == "" || resultPath == "" {
		fmt.Fprintln(os.Stderr, "usage: host --plugin-dir DIR --result FILE --s3-url URL --bucket B --credentials-file F --csi-driver NAME --csi-endpoint EP --volume-id ID")
		os.Exit(2)
	}
	res := Run(start, cfg)
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(resultPath, b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "write result:", err)
		os.Exit(2)
	}
	if !res.ObjectStore.OK() || !res.VolumeSnapshotter.OK() || !res.PluginLister.OK() {
		os.Exit(1)
	}
}

// Config is where the cases find the plugin and the servers.
type Config struct {
	PluginDir       string
	S3URL           string
	Bucket          string
	CredentialsFile string
	CSIDriver       string
	CSIEndpoint     string
	VolumeID        string
}

// Run starts the host and runs the three groups of cases. A host that
// does not start makes every cell red with its error.
func Run(start Start, cfg Config) Result {
	res := Result{Velero: veleroVersion()}
	logs := &JSONLines{}
	h, stop, err := start(cfg.PluginDir, logs, ServerArgs, Features)
	if err != nil {
		for _, c := range []*Cell{&res.ObjectStore, &res.VolumeSnapshotter, &res.PluginLister} {
			c.fail("host did not start: %v", err)
		}
		return res
	}
	defer stop()
	res.PluginLister = lister(h, cfg)
	res.ObjectStore = objectStore(h, cfg, hostLogs{logs})
	res.VolumeSnapshotter, res.SnapshotID = volumeSnapshotter(h, cfg, logs)
	return res
}

// veleroVersion is the version of Velero's module linked into this binary.
func veleroVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == "github.com/vmware-tanzu/velero" {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return "unknown"
}
