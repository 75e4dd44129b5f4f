// Command image builds the plugin's init-container image without a
// container engine, and pushes it, both with go-containerregistry.
//
//	go run ./hack/image --out _output/image.tar --version v0.1.0     (make image)
//	go run ./hack/image push --archive _output/image.tar REGISTRY/NAME:TAG     (make push)
//
// The archive is an OCI image layout in a tar: an index for linux/amd64 and
// linux/arm64, each image one layer holding the static binary at
// /plugins/velero-plugin-s3csi. The same commit builds the same bytes: the
// time stamps come from SOURCE_DATE_EPOCH (default: the commit's time).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

// defaultSource is the org.opencontainers.image.source label: the module's
// path, fixed so that the label does not depend on a clone's remote.
const defaultSource = "https://example.io/velero-plugin-s3csi"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "push" {
		err = runPush(ctx, os.Args[2:])
	} else {
		err = runBuild(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func runBuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("out", "_output/image.tar", "the OCI image archive to write")
	o := options{}
	fs.StringVar(&o.Src, "src", ".", "the module's root; its main package is the plugin")
	fs.StringVar(&o.Go, "go", "go", "the go command that compiles the plugin")
	fs.StringVar(&o.Version, "version", "dev", "stamped into the binary (main.version) and the version label")
	fs.StringVar(&o.Revision, "revision", "", "the revision label (default: git rev-parse HEAD)")
	fs.StringVar(&o.Source, "source", defaultSource, "the source label")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Revision == "" {
		o.Revision = git(o.Src, "rev-parse", "HEAD")
	}
	if o.Revision == "" {
		o.Revision = "unknown"
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"), git(o.Src, "log", "-1", "--format=%ct"))
	if err != nil {
		return err
	}
	o.Created = created
	idx, err := build(ctx, o)
	if err != nil {
		return err
	}
	if err := writeArchive(*out, idx, o.Created); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: index %s (linux/amd64, linux/arm64), version %s, revision %s, created %s\n",
		*out, d, o.Version, o.Revision, o.Created.Format(time.RFC3339))
	return nil
}

func runPush(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image push", flag.ContinueOnError)
	archive := fs.String("archive", "_output/image.tar", "the OCI image archive that `make image` wrote")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("push takes one image reference, REGISTRY/NAME:TAG (make push IMAGE=...); got %q", fs.Args())
	}
	d, err := push(ctx, *archive, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Printf("pushed %s@%s\n", fs.Arg(0), d)
	return nil
}

// sourceDateEpoch is the image's one time stamp: SOURCE_DATE_EPOCH when
// set, else the commit's time, else 1970.
func sourceDateEpoch(env, commitTime string) (time.Time, error) {
	v := env
	if v == "" {
		v = commitTime
	}
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("invalid value for SOURCE_DATE_EPOCH: %q is not a count of seconds since 1970", v)
	}
	return time.Unix(s, 0).UTC(), nil
}

// git answers one line, or "" outside a git work tree.
func git(dir string, args ...string) string {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
