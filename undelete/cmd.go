// Package undelete brings back a Velero backup that was deleted from a
// versioned (Object Lock) bucket: Velero's `backup delete` only puts
// delete markers there, and removing them makes the backup's objects, and
// so the backup, visible again.
package undelete

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Options are the command's flags.
type Options struct {
	Target
	S3URL                 string
	Region                string
	CredentialsFile       string
	Profile               string
	CACert                string // path of a PEM bundle
	InsecureSkipTLSVerify bool
	DryRun                bool
	Timeout               time.Duration

	profileSet bool // --profile was given
}

// usageError is a wrong command line: exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

const help = `Usage: velero-plugin-s3csi undelete --bucket BUCKET [--prefix PREFIX] --backup NAME [flags]

Brings back a Velero backup deleted from a versioned bucket (S3 Object Lock):
removes the delete markers that "velero backup delete" put over the objects
under PREFIX/backups/NAME/, so that each object's newest version is current
again. It plans first and changes nothing when any object cannot come back.
Velero's backup sync then lists the backup again.

The credentials need s3:ListBucketVersions on the bucket and
s3:DeleteObjectVersion on the backup's objects (MinIO also checks
s3:DeleteObject).

Exit codes: 0 done (or nothing to do), 1 failed or refused, 2 wrong usage.

Flags:
`

// Main runs `velero-plugin-s3csi undelete FLAGS` and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err == pflag.ErrHelp {
		return 0
	}
	if err == nil {
		err = run(ctx, o, stdout)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "velero-plugin-s3csi undelete:", err)
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintln(stderr, "see: velero-plugin-s3csi undelete --help")
		return 2
	}
	return 1
}

// parse reads and checks the flags; every error it returns is a usage error.
func parse(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := pflag.NewFlagSet("undelete", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help, fs.FlagUsages()) }
	fs.StringVar(&o.Bucket, "bucket", "", "the bucket of the backup storage location (required)")
	fs.StringVar(&o.Prefix, "prefix", "", "the backup storage location's prefix; empty for none")
	fs.StringVar(&o.Backup, "backup", "", "the name of the Velero backup to bring back (required)")
	fs.StringVar(&o.S3URL, "s3-url", "", "the S3-compatible server, e.g. https://minio.example:9000 (path-style); empty for AWS")
	fs.StringVar(&o.Region, "region", "", "the bucket's region; default us-east-1 with --s3-url, else from the AWS SDK's chain")
	fs.StringVar(&o.CredentialsFile, "credentials-file", "", "an AWS shared-credentials file (as in the BSL's Secret); default: the AWS SDK's chain")
	fs.StringVar(&o.Profile, "profile", "default", "the profile to use in the credentials file")
	fs.StringVar(&o.CACert, "ca-cert", "", "a PEM bundle of CAs to trust for the server's certificate")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "do not verify the server's certificate")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print what would be done; change nothing")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return nil, err
		}
		return nil, usageError{err}
	}
	o.profileSet = fs.Changed("profile")
	if err := o.check(fs.Args()); err != nil {
		return nil, usageError{err}
	}
	return o, nil
}

// check validates the flags' values.
func (o *Options) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected argument %q (all input is given with flags)", rest[0])
	case o.Bucket == "":
		return errors.New("--bucket is required")
	case o.Backup == "":
		return errors.New("--backup is required")
	case o.Profile == "":
		return errors.New("--profile must not be empty")
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout %s: must be positive", o.Timeout)
	}
	if errs := validation.IsDNS1123Subdomain(o.Backup); len(errs) > 0 {
		return fmt.Errorf("--backup %q is not a backup name: %s", o.Backup, strings.Join(errs, "; "))
	}
	o.Prefix = strings.Trim(o.Prefix, "/")
	if o.S3URL != "" {
		u, err := url.Parse(o.S3URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--s3-url %q: want http(s)://host[:port]", o.S3URL)
		}
	}
	return nil
}

// run plans, then acts (unless a dry run), printing one line per action.
func run(ctx context.Context, o *Options, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := newClient(ctx, o)
	if err != nil {
		return err
	}
	versions, err := listVersions(ctx, client, o.Bucket, o.Dir())
	if err != nil {
		return err
	}
	plan, err := MakePlan(o.Target, versions)
	if err != nil {
		return fmt.Errorf("refusing to change anything: %w", err)
	}
	if len(plan.Actions) == 0 {
		fmt.Fprintf(stdout, "backup %s is not deleted: nothing to do (%d objects under %s are present)\n", o.Backup, plan.Present, o.URL(o.Dir()))
		return nil
	}
	verb := "remove"
	if o.DryRun {
		verb = "would remove"
	}
	for i, a := range plan.Actions {
		r := a.Restores
		fmt.Fprintf(stdout, "%s delete marker %s of %s (restores version %s, %d bytes, %s)\n",
			verb, a.MarkerID, o.URL(a.Key), r.VersionID, r.Size, r.LastModified.UTC().Format(time.RFC3339))
		if o.DryRun {
			continue
		}
		if err := removeMarker(ctx, client, o.Bucket, a.Key, a.MarkerID); err != nil {
			return fmt.Errorf("%w (%d of %d delete markers removed; run undelete again to finish)", err, i, len(plan.Actions))
		}
	}
	if o.DryRun {
		fmt.Fprintf(stdout, "dry run: %d objects would be restored; nothing was changed\n", plan.Restored)
		return nil
	}
	fmt.Fprintf(stdout, "%d objects restored; Velero's backup sync (every --backup-sync-period, 1 min by default) brings backup %s back\n", plan.Restored, o.Backup)
	return nil
}
