package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
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
	c, log, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	r, err := New(c, log)
	if err != nil {
		return err
	}
	return r.Serve(ctx)
}

// renamed are the flags that took the kubernetes-csi sidecars' names
// (csi-lib-utils standardflags: --http-endpoint; the TLS pair of
// kube-apiserver and external-snapshotter's conversion webhook:
// --tls-private-key-file). The old names still work for one release, with
// a warning in the log; --log-level, which became -v, is handled apart
// because its values differ.
var renamed = []struct{ old, new string }{
	{"health-listen", "http-endpoint"},
	{"tls-key-file", "tls-private-key-file"},
}

// ParseFlags reads the csi-relay flags into a Config and a logger, writing
// to stderr, that logs as -v (or the deprecated --log-level) and
// --logging-format say, and logs a warning for each deprecated flag used.
// It reads no file: New checks what the flags name.
func ParseFlags(args []string, stderr io.Writer) (Config, *logrus.Logger, error) {
	var c Config
	fs := pflag.NewFlagSet("csi-relay", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.CSIAddress, "csi-address", "/csi/csi.sock", "the CSI driver's controller socket: an absolute path, or unix:///path")
	fs.StringVar(&c.Listen, "listen", "0.0.0.0:8443", "host:port of the mutual-TLS gRPC front")
	fs.StringVar(&c.CertFile, "tls-cert-file", "", "the relay's certificate (PEM); re-read when it changes")
	fs.StringVar(&c.KeyFile, "tls-private-key-file", "", "the relay's private key (PEM)")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", "", "the CA (PEM) that signs the accepted client certificates")
	fs.StringVar(&c.ClientName, "client-name", "", "required: accept only a client certificate with this DNS or URI SAN (the CN is not checked)")
	fs.StringVar(&c.HTTPEndpoint, "http-endpoint", "", "host:port (or :port) of the plain HTTP GET /healthz (200 when the driver answers Probe); empty: none")
	fs.BoolVar(&c.AllowTLS12, "tls12", false, "also accept TLS 1.2 clients (TLS 1.3 only by default)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "on SIGTERM, how long calls in flight may finish")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", DefaultLimits.HandshakeTimeout, "a connection that has not finished the TLS handshake by then is closed")
	fs.IntVar(&c.MaxConnections, "max-connections", DefaultLimits.MaxConnections, "open connections on --listen at most; a new one past this is closed at once")
	fs.DurationVar(&c.MaxConnectionAge, "max-connection-age", DefaultLimits.MaxConnectionAge, "a connection is closed this long after it was made (calls in flight get --call-timeout to finish), so the client certificate and the CA file are checked again")
	fs.DurationVar(&c.CallTimeout, "call-timeout", DefaultLimits.CallTimeout, "the longest a forwarded call may take, whatever deadline the caller sent; at least the VSL's operationTimeout")
	verbosity := fs.IntP("v", "v", 0, "log verbosity, as the kubernetes-csi sidecars take it; the relay logs one info line a call and its warnings at every value (it has no debug lines)")
	format := fs.String("logging-format", "text", "text or json (one JSON object a line)")
	// The old names write into the same fields; hidden from --help.
	for _, r := range renamed {
		f := fs.Lookup(r.new)
		fs.Var(f.Value, r.old, "deprecated: use --"+r.new)
		_ = fs.MarkHidden(r.old)
	}
	level := fs.String("log-level", "", "deprecated: use -v")
	_ = fs.MarkHidden("log-level")
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	var deprecated []logrus.Fields // the old flag, and the one to use
	for _, r := range renamed {
		if fs.Changed(r.old) {
			if fs.Changed(r.new) {
				return c, nil, fmt.Errorf("--%s and --%s are the same flag: give only --%s (--%s is deprecated)", r.old, r.new, r.new, r.old)
			}
			deprecated = append(deprecated, logrus.Fields{"flag": "--" + r.old, "use": "--" + r.new})
		}
	}
	lvl, err := logLevel(*verbosity, fs.Changed("v"), *level, fs.Changed("log-level"))
	if err != nil {
		return c, nil, err
	}
	if fs.Changed("log-level") {
		deprecated = append(deprecated, logrus.Fields{"flag": "--log-level", "use": "-v"})
	}
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(lvl)
	switch *format {
	case "text":
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return c, nil, fmt.Errorf("--logging-format %q: want text or json", *format)
	}
	for _, d := range deprecated {
		log.WithFields(d).Warn("csi-relay: deprecated flag; it still works in this release and is removed in the next")
	}
	return c, log, nil
}

// logLevel maps klog's -v onto logrus: below 4 info (the relay's one line
// a call is at info, as it must be seen by default), 4 debug, 5 trace.
// The deprecated --log-level names a level itself.
func logLevel(v int, vSet bool, level string, levelSet bool) (logrus.Level, error) {
	if levelSet {
		if vSet {
			return 0, errors.New("-v and --log-level both set: give only -v (--log-level is deprecated)")
		}
		lvl, err := logrus.ParseLevel(level)
		if err != nil {
			return 0, fmt.Errorf("--log-level %q: %w", level, err)
		}
		return lvl, nil
	}
	switch {
	case v < 0:
		return 0, fmt.Errorf("-v %d: want 0 or more", v)
	case v >= 5:
		return logrus.TraceLevel, nil
	case v == 4:
		return logrus.DebugLevel, nil
	default:
		return logrus.InfoLevel, nil
	}
}

func certsMain(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("csi-relay certs", pflag.ContinueOnError)
	dns := fs.StringSlice("server-dns", nil, "DNS name(s) of the relay Service the plugin dials, e.g. csi-relay.kube-system.svc")
	client := fs.String("client-name", "velero", "the client certificate's DNS SAN (the relay's --client-name)")
	out := fs.String("out", "", "a new folder (made 0700), or an empty one only you can write to, for the CA certificates and both pairs")
	validity := fs.Duration("validity", 365*24*time.Hour, "how long the certificates are valid (at most 5 years)")
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
	names := make([]string, len(CertFiles))
	for i, f := range CertFiles {
		names[i] = p(f)
	}
	fmt.Fprintf(stdout, "wrote %s (keys 0600; the two CA keys were not kept)\n", strings.Join(names, ", "))
	// The layout cert-manager.yaml makes: each pair's ca.crt is its own
	// issuer's, and each side reads the other side's CA from a Secret of
	// its own namespace that holds only that certificate.
	fmt.Fprintf(stdout, "kubectl -n %s create secret generic csi-relay-server-tls --from-file=tls.crt=%s --from-file=tls.key=%s --from-file=ca.crt=%s\n",
		*serverNS, p("server.crt"), p("server.key"), p("server-ca.crt"))
	fmt.Fprintf(stdout, "kubectl -n %s create secret generic csi-relay-client-ca --from-file=ca.crt=%s\n", *serverNS, p("client-ca.crt"))
	fmt.Fprintf(stdout, "kubectl -n %s create secret generic csi-relay-client-tls --from-file=tls.crt=%s --from-file=tls.key=%s --from-file=ca.crt=%s\n",
		*veleroNS, p("client.crt"), p("client.key"), p("client-ca.crt"))
	fmt.Fprintf(stdout, "kubectl -n %s create secret generic csi-relay-server-ca --from-file=ca.crt=%s\n", *veleroNS, p("server-ca.crt"))
	return nil
}
