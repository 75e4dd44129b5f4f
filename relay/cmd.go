package relay

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
)

// Main runs `velero-plugin-s3csi csi-relay [certs] FLAGS` until ctx ends
// and returns the process's exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 && args[0] == "certs" {
		err = certsMain(args[1:], stdout)
	} else {
		err = serveMain(ctx, args, stderr)
	}
	if err == pflag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi csi-relay:", err)
		return 1
	}
	return 0
}

func serveMain(ctx context.Context, args []string, stderr io.Writer) error {
	var c Config
	fs := pflag.NewFlagSet("csi-relay", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.CSIAddress, "csi-address", "unix:///csi/csi.sock", "the CSI driver's controller socket")
	fs.StringVar(&c.Listen, "listen", "0.0.0.0:8443", "host:port of the mutual-TLS gRPC front")
	fs.StringVar(&c.CertFile, "tls-cert-file", "", "the relay's certificate (PEM); re-read when it changes")
	fs.StringVar(&c.KeyFile, "tls-key-file", "", "the relay's private key (PEM)")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", "", "the CA (PEM) that signs the accepted client certificates")
	fs.StringVar(&c.ClientName, "client-name", "", "accept only a client certificate with this DNS or URI SAN or CN")
	fs.StringVar(&c.HealthListen, "health-listen", "", "host:port for GET /healthz (200 when the driver answers Probe)")
	fs.BoolVar(&c.AllowTLS12, "tls12", false, "also accept TLS 1.2 clients (TLS 1.3 only by default)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "on SIGTERM, how long calls in flight may finish")
	level := fs.String("log-level", "info", "debug, info, warning or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl, err := logrus.ParseLevel(*level)
	if err != nil {
		return fmt.Errorf("--log-level %q: %w", *level, err)
	}
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(lvl)
	r, err := New(c, log)
	if err != nil {
		return err
	}
	return r.Serve(ctx)
}

func certsMain(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("csi-relay certs", pflag.ContinueOnError)
	dns := fs.StringSlice("server-dns", nil, "DNS name(s) of the relay Service the plugin dials, e.g. csi-relay.kube-system.svc")
	client := fs.String("client-name", "velero", "the client certificate's name (the relay's --client-name)")
	out := fs.String("out", "", "folder to write ca.crt, server.crt, server.key, client.crt, client.key into")
	validity := fs.Duration("validity", 365*24*time.Hour, "how long the certificates are valid")
	serverNS := fs.String("server-namespace", "kube-system", "namespace of the CSI controller (for the printed kubectl lines)")
	veleroNS := fs.String("velero-namespace", "velero", "Velero's namespace (for the printed kubectl lines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out is required")
	}
	if err := WriteCerts(*out, *dns, *client, *validity); err != nil {
		return err
	}
	p := func(name string) string { return filepath.Join(*out, name) }
	fmt.Fprintf(stdout, "wrote %s, %s, %s, %s, %s (keys 0600; the CA key was not kept)\n",
		p("ca.crt"), p("server.crt"), p("server.key"), p("client.crt"), p("client.key"))
	fmt.Fprintf(stdout, "kubectl -n %s create secret generic csi-relay-server-tls --from-file=tls.crt=%s --from-file=tls.key=%s --from-file=ca.crt=%s\n",
		*serverNS, p("server.crt"), p("server.key"), p("ca.crt"))
	fmt.Fprintf(stdout, "kubectl -n %s create secret generic csi-relay-client-tls --from-file=tls.crt=%s --from-file=tls.key=%s --from-file=ca.crt=%s\n",
		*veleroNS, p("client.crt"), p("client.key"), p("ca.crt"))
	return nil
}
