// Command velero-plugin-s3csi is a Velero plugin: the example.io/s3compat
// object store (any S3-compatible bucket) and the example.io/csi volume
// snapshotter (PV snapshots through a CSI driver's controller).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/doctor"
	"example.io/velero-plugin-s3csi/install"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
	"example.io/velero-plugin-s3csi/relay"
	"example.io/velero-plugin-s3csi/snapshotter"
	"example.io/velero-plugin-s3csi/undelete"
	"example.io/velero-plugin-s3csi/verify"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// heapAllowance is the Go heap beside the transfer buffers: the
// plugin gRPC messages, HTTP and TLS buffers, clients, the body
// checks, and room for the garbage of Velero's 16 KiB messages. With less
// the collector runs without pause when the budget is full (16 uploads at
// once lost a third of their speed at 16 MiB; measured again without
// Velero's framework, they lost almost half); more only adds RSS.
const heapAllowance = 24 << 20

// commands are the subcommands that run until done or signalled and
// return an exit code.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"csi-relay": relay.Main,    // a container in the CSI driver's controller pod
	"doctor":    doctor.Main,   // checks a BSL or VSL with the plugins' own code, a line per check
	"undelete":  undelete.Main, // an operator's way back after a `velero backup delete` on a versioned bucket
	"verify":    verify.Main,   // reads a BSL's backups and says, per backup, whether it is complete and untouched
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "install" { // the init container's entrypoint
		if err := install.Run(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "velero-plugin-s3csi install:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && commands[os.Args[1]] != nil {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := commands[os.Args[1]](ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	flags := pflag.CommandLine
	server := veleroplugin.New()
	server.BindFlags(flags)                // --log-level; also lets the host's other flags through
	features := config.BindFeatures(flags) // Velero passes --features
	showVersion := flags.Bool("version", false, "print the version and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("velero-plugin-s3csi", version)
		return
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Without a soft limit the collector lets the heap grow to twice the
		// live buffers before it runs. The limit is memoryBudget (the one
		// process-wide account of transfer buffers, the latest Init's) plus
		// the rest of the heap; an operator's GOMEMLIMIT wins.
		objectstore.OnMemoryBudget(func(budget int64) { debug.SetMemoryLimit(budget + heapAllowance) })
	}
	k := kube.New() // one Kubernetes client for both plugins
	server.RegisterObjectStore(objectstore.Name, func(log logrus.FieldLogger) veleroplugin.ObjectStore {
		return objectstore.New(log, k)
	})
	server.RegisterVolumeSnapshotter(snapshotter.Name, func(log logrus.FieldLogger) veleroplugin.VolumeSnapshotter {
		return snapshotter.New(log, features, k)
	})
	if err := server.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, "velero-plugin-s3csi:", err)
		os.Exit(2)
	}
}
