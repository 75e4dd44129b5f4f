// Package verify is `velero-plugin-s3csi verify`: it reads a
// BackupStorageLocation as Velero laid it out and says, per backup,
// whether it is complete and untouched: its metadata, every object Velero
// writes for a completed backup, the tarball as one whole gzip stream of
// a tar whose items are those of the backup's resource list, the age
// encryption, and the Object Lock retention. It reads through the
// plugin's own store (its retries, CA certificates, roles, SSE-C keys and
// age identities) and never writes, so it runs on a locked bucket too.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"example.io/velero-plugin-s3csi/doctor"
	"example.io/velero-plugin-s3csi/internal/minisig"
	"example.io/velero-plugin-s3csi/kube"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a backup failed a check, or a location could not be read
	exitUsage  = 2 // verify could not run: flags, the manifest, the cluster
)

const usage = `velero-plugin-s3csi verify reads the backups of a storage location and says, per backup,
whether it is complete and untouched. It only reads.

From a manifest (a laptop, CI):
  velero-plugin-s3csi verify --bsl bsl.yaml --credentials-file ./credentials [--backup NAME]
From the cluster (in Velero's namespace, or with --kubeconfig):
  velero-plugin-s3csi verify --namespace velero --bsl-name default
  velero-plugin-s3csi verify --namespace velero --all

It prints a line per check and backup, ✓ or ✗, and for each ✗ the fix. The
exit code is 0 when every backup passed, 1 when one failed, 2 when verify
could not run.

`

// options are verify's flags.
type options struct {
	bslFile, bslName string
	namespace        string
	kubeconfig       string
	credentialsFile  string
	backup           string
	output           string
	logLevel         string
	progress         time.Duration
	all, quick       bool
	publicKeys       string
	keys             minisig.Keys
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.bslFile, "bsl", "", "a BackupStorageLocation manifest (YAML or JSON) whose backups to verify")
	fs.StringVar(&o.bslName, "bsl-name", "", "the BackupStorageLocation to read from the cluster")
	fs.BoolVar(&o.all, "all", false, "every BackupStorageLocation of this plugin in the namespace")
	fs.StringVar(&o.backup, "backup", "", "verify this backup only (default: every backup in the location)")
	fs.BoolVar(&o.quick, "quick", false, "skip reading the tarball and lists: metadata, presence, sizes, small objects' signatures and Object Lock only")
	fs.StringVarP(&o.namespace, "namespace", "n", kube.VeleroNamespace(), "Velero's namespace: the location, its Secrets and the plugin ConfigMap")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, else $KUBECONFIG)")
	fs.StringVar(&o.credentialsFile, "credentials-file", "", "the BSL's credentials file, in place of its spec.credential Secret")
	fs.StringVar(&o.publicKeys, "public-key", "", "minisign public keys (RWQ…, comma separated) whose signatures (<key>.minisig) every object must carry")
	fs.StringVarP(&o.output, "output", "o", "text", "text or json")
	fs.DurationVar(&o.progress, "progress-interval", 10*time.Second, "how often a long read prints its progress on stderr")
	fs.StringVar(&o.logLevel, "log-level", "error", "the plugin's own log lines on stderr: error, warning, info or debug")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := 0
	for _, v := range []bool{o.bslFile != "", o.bslName != "", o.all} {
		if v {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("name one location: --bsl FILE or --bsl-name NAME; or --all")
	}
	if o.credentialsFile != "" && o.all {
		return nil, errors.New("--credentials-file is one BSL's credentials file: give it with --bsl or --bsl-name")
	}
	if o.backup != "" && o.all {
		return nil, errors.New("--backup names a backup of one location: give it with --bsl or --bsl-name")
	}
	if o.output != "text" && o.output != "json" {
		return nil, fmt.Errorf("--output %q: use text or json", o.output)
	}
	if o.progress <= 0 {
		return nil, fmt.Errorf("--progress-interval %s: give a positive duration such as 10s", o.progress)
	}
	if _, err := logrus.ParseLevel(o.logLevel); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	var err error
	if o.keys, err = minisig.ParsePublicKeys(o.publicKeys); err != nil {
		return nil, fmt.Errorf("--public-key: %w", err)
	}
	return &o, nil
}

// CheckArgs says whether args are verify flags it would run with: the
// deploy manifests' tests hold their commands to it.
func CheckArgs(args []string) error {
	_, err := parseFlags(args, io.Discard)
	return err
}

// Main runs verify and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi verify:", err)
		return exitUsage
	}
	ss, err := doctor.NewSession("verify", o.kubeconfig, o.namespace, o.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi verify:", err)
		return exitUsage
	}
	defer ss.Close()
	k, dir, log := ss.Kube, ss.Dir, ss.Log

	var locs []doctor.Location
	res := result{Namespace: o.namespace, OK: true, Locations: []locationResult{}}
	if o.all {
		locs, res.Skipped, err = doctor.ReadBSLs(ctx, k, o.namespace, dir)
		if err == nil && len(locs) == 0 {
			err = fmt.Errorf("no BackupStorageLocation of this plugin in namespace %s%s", o.namespace, skippedText(res.Skipped))
		}
	} else {
		var loc doctor.Location
		loc, err = doctor.ReadBSL(ctx, k, o.namespace, o.bslFile, o.bslName, o.credentialsFile, dir)
		locs = []doctor.Location{loc}
	}
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi verify:", err)
		return exitUsage
	}
	out := newPrinter(stdout, o.output == "text")
	prog := &progress{w: stderr, every: o.progress, now: time.Now}
	for _, loc := range locs {
		lr := verifyLocation(ctx, o, k, log, loc, out, prog)
		res.Locations = append(res.Locations, lr)
		res.OK = res.OK && lr.OK
	}
	if err := out.finish(res); err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi verify:", err)
		return exitUsage
	}
	if !res.OK {
		return exitFailed
	}
	return exitOK
}
