// Package doctor is `velero-plugin-s3csi doctor`: it checks a
// BackupStorageLocation or VolumeSnapshotLocation with the plugin's own
// code, one real request per check, and prints a line per check with the
// fix for each that fails. The checks are the providers' (objectstore,
// snapshotter), the same that Init's errors come from; doctor reads the
// location, runs them and prints. It decides nothing the providers do not.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a check failed
	exitUsage  = 2 // doctor could not run: flags, the manifest, the cluster
)

const usage = `velero-plugin-s3csi doctor checks a storage or snapshot location with the plugin's own code.

From a manifest (a laptop, CI):
  velero-plugin-s3csi doctor --bsl bsl.yaml --credentials-file ./credentials
  velero-plugin-s3csi doctor --vsl vsl.yaml [--create-test-volume 1Gi]
From the cluster (in Velero's namespace, or with --kubeconfig):
  velero-plugin-s3csi doctor --namespace velero --bsl-name default
  velero-plugin-s3csi doctor --namespace velero --vsl-name csi
  velero-plugin-s3csi doctor --namespace velero --all

It prints a line per check, ✓ or ✗, and for each ✗ the fix. The exit code
is 0 when every check passed, 1 when one failed, 2 when doctor could not run.

`

// options are doctor's flags.
type options struct {
	bslFile, vslFile   string
	bslName, vslName   string
	namespace          string
	kubeconfig         string
	credentialsFile    string
	output             string
	testVolume         string
	logLevel           string
	testVolumeSize     int64
	all                bool
	fromCluster, isBSL bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.bslFile, "bsl", "", "a BackupStorageLocation manifest (YAML or JSON) to check")
	fs.StringVar(&o.vslFile, "vsl", "", "a VolumeSnapshotLocation manifest to check")
	fs.StringVar(&o.bslName, "bsl-name", "", "the BackupStorageLocation to read from the cluster")
	fs.StringVar(&o.vslName, "vsl-name", "", "the VolumeSnapshotLocation to read from the cluster")
	fs.BoolVar(&o.all, "all", false, "every BackupStorageLocation and VolumeSnapshotLocation of this plugin in the namespace")
	fs.StringVarP(&o.namespace, "namespace", "n", kube.VeleroNamespace(), "Velero's namespace: the location, its Secrets and the plugin ConfigMap")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, else $KUBECONFIG)")
	fs.StringVar(&o.credentialsFile, "credentials-file", "", "a BSL's credentials file, in place of its spec.credential Secret")
	fs.StringVarP(&o.output, "output", "o", "text", "text or json")
	fs.StringVar(&o.testVolume, "create-test-volume", "", "VSL only: create a volume of this size, snapshot it, restore it and delete all three")
	fs.StringVar(&o.logLevel, "log-level", "error", "the plugin's own log lines on stderr: error, warning, info or debug")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := 0
	for _, v := range []string{o.bslFile, o.vslFile, o.bslName, o.vslName} {
		if v != "" {
			set++
		}
	}
	if o.all {
		set++
	}
	if set != 1 {
		return nil, errors.New("name one location: --bsl FILE, --vsl FILE, --bsl-name NAME or --vsl-name NAME; or --all")
	}
	o.isBSL = o.bslFile != "" || o.bslName != ""
	o.fromCluster = o.bslName != "" || o.vslName != "" || o.all
	if o.credentialsFile != "" && !o.isBSL {
		return nil, errors.New("--credentials-file is a BackupStorageLocation's credentials file: give it with --bsl or --bsl-name")
	}
	if o.output != "text" && o.output != "json" {
		return nil, fmt.Errorf("--output %q: use text or json", o.output)
	}
	if o.testVolume != "" {
		if o.isBSL {
			return nil, errors.New("--create-test-volume checks a VolumeSnapshotLocation, not a BackupStorageLocation")
		}
		n, err := config.ParseSize(o.testVolume)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--create-test-volume %q is not a size such as 1Gi", o.testVolume)
		}
		o.testVolumeSize = n
	}
	if _, err := logrus.ParseLevel(o.logLevel); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	return &o, nil
}

// Main runs doctor and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi doctor:", err)
		return exitUsage
	}
	ss, err := NewSession("doctor", o.kubeconfig, o.namespace, o.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi doctor:", err)
		return exitUsage
	}
	defer ss.Close()
	k, dir, log := ss.Kube, ss.Dir, ss.Log
	if o.all {
		return all(ctx, o, k, dir, log, stdout, stderr)
	}
	loc, err := load(ctx, o, k, dir)
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi doctor:", err)
		return exitUsage
	}
	r := diagnose(ctx, o, k, loc, log, stdout)
	if o.output == "json" {
		err = writeJSON(stdout, r.summary(loc))
	} else {
		err = r.finish(stdout, loc.String())
	}
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi doctor:", err)
		return exitUsage
	}
	if !r.passed() {
		return exitFailed
	}
	return exitOK
}

// header is a text report's first line.
func header(w io.Writer, text bool, loc location) {
	if text {
		fmt.Fprintf(w, "checking %s (provider %s)\n", loc, loc.provider)
	}
}

// diagnose runs the checks of loc's provider; in text mode each line is
// printed as it is made.
func diagnose(ctx context.Context, o *options, k *kube.Client, loc location, log *logrus.Logger, stdout io.Writer) *report {
	r := newReport(stdout, o.output == "text", o.testVolumeSize > 0)
	header(stdout, o.output == "text", loc)
	switch loc.provider {
	case objectstore.Name:
		objectstore.Diagnose(ctx, log, k, loc.config, r)
	case snapshotter.Name:
		snapshotter.Diagnose(ctx, log, k, loc.config, snapshotter.DiagnoseOptions{TestVolumeSize: o.testVolumeSize}, r)
	default:
		r.Check("provider", func() (string, error) {
			return "", fmt.Errorf("%s names provider %q, which this plugin does not serve: it serves %s (BSL) and %s (VSL)",
				loc, loc.provider, objectstore.Name, snapshotter.Name)
		})
	}
	return r
}

// load reads the location from its file or from the cluster.
func load(ctx context.Context, o *options, k *kube.Client, dir string) (location, error) {
	kind, file, name, resource := "VolumeSnapshotLocation", o.vslFile, o.vslName, "volumesnapshotlocations"
	if o.isBSL {
		kind, file, name, resource = "BackupStorageLocation", o.bslFile, o.bslName, "backupstoragelocations"
	}
	var data []byte
	var err error
	if o.fromCluster {
		ctx, cancel := context.WithTimeout(ctx, 2*kube.Timeout)
		defer cancel()
		if data, err = k.VeleroObject(ctx, o.namespace, resource, name); err != nil {
			return location{}, fmt.Errorf("read %s %s/%s: %w", kind, o.namespace, name, err)
		}
	} else if data, err = readManifest(file); err != nil {
		return location{}, err
	}
	m, err := parseManifest(data, kind)
	if err != nil {
		return location{}, fmt.Errorf("%s: %w", orCluster(file), err)
	}
	return build(ctx, m, o.credentialsFile, dir, k)
}

func orCluster(file string) string {
	if file == "" {
		return "the cluster's object"
	}
	return file
}

// readManifest reads at most 1 MiB: a location manifest is small.
func readManifest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB; not a location manifest", path)
	}
	return data, nil
}

// CheckArgs says whether args are doctor flags it would run with: the
// deploy manifests' tests hold their commands to it.
func CheckArgs(args []string) error {
	_, err := parseFlags(args, io.Discard)
	return err
}
