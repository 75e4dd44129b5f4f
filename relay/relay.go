// Package relay is the csi-relay sub-mode: a gRPC front, served over
// mutual TLS, that runs beside a CSI driver's controller in its pod and
// forwards the few CSI methods the example.io/csi snapshotter calls to the
// driver's unix socket, as raw frames (nothing is re-marshalled, and no
// request or response body is ever logged: CSI requests carry secrets).
package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// forwarded lists the full gRPC method names the relay passes on: what the
// snapshotter calls, and DeleteVolume to clean up a restore that failed.
// Every other method is answered PERMISSION_DENIED.
var forwarded = map[string]bool{
	"/csi.v1.Identity/Probe":                       true,
	"/csi.v1.Identity/GetPluginInfo":               true,
	"/csi.v1.Identity/GetPluginCapabilities":       true,
	"/csi.v1.Controller/ControllerGetCapabilities": true,
	"/csi.v1.Controller/CreateSnapshot":            true,
	"/csi.v1.Controller/DeleteSnapshot":            true,
	"/csi.v1.Controller/ListSnapshots":             true,
	"/csi.v1.Controller/CreateVolume":              true,
	"/csi.v1.Controller/DeleteVolume":              true,
}

// Config is what the csi-relay flags set.
type Config struct {
	CSIAddress   string // the driver's controller socket: /csi/csi.sock or unix:///csi/csi.sock
	Listen       string // host:port of the TLS gRPC front
	CertFile     string // the relay's certificate (PEM), re-read when it changes
	KeyFile      string // its key
	ClientCAFile string // the CA that signs accepted client certificates
	ClientName   string // "": any client the CA signed; else a DNS/URI SAN or the CN
	HTTPEndpoint string // "": none; else host:port of GET /healthz
	AllowTLS12   bool   // accept TLS 1.2 clients too (1.3 only otherwise)
	DrainTimeout time.Duration
}

// healthTimeout bounds the driver Probe behind GET /healthz.
const healthTimeout = 2 * time.Second

// Relay is a running relay.
type Relay struct {
	cfg      Config
	log      logrus.FieldLogger
	upstream *grpc.ClientConn
	server   *grpc.Server
	certs    *certSource
}

// New checks the configuration, loads the certificates and connects
// (lazily) to the driver's socket. opts are added to the gRPC server's
// options (tests add interceptors that inject faults).
func New(cfg Config, log logrus.FieldLogger, opts ...grpc.ServerOption) (*Relay, error) {
	target, err := csiTarget(cfg.CSIAddress)
	if err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		return nil, errors.New("--listen is required (host:port of the TLS front)")
	}
	certs, err := newCertSource(cfg, log)
	if err != nil {
		return nil, err
	}
	up, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("--csi-address %s: %w", cfg.CSIAddress, err)
	}
	r := &Relay{cfg: cfg, log: log, upstream: up, certs: certs}
	opts = append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(certs.serverConfig())),
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.UnknownServiceHandler(r.forward),
	}, opts...)
	r.server = grpc.NewServer(opts...)
	return r, nil
}

// csiTarget is the gRPC target of --csi-address, which takes the forms
// every kubernetes-csi sidecar takes: an absolute path (/csi/csi.sock, as
// csi-lib-utils' connection.Connect reads it) or unix:///csi/csi.sock.
func csiTarget(addr string) (string, error) {
	p := strings.TrimPrefix(addr, "unix://")
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("--csi-address %q: want the driver's socket as an absolute path, /csi/csi.sock, or unix:///csi/csi.sock", addr)
	}
	return "unix://" + p, nil
}

// Serve listens and serves until ctx ends (SIGTERM, say), then drains
// the calls in flight for at most DrainTimeout and stops.
func (r *Relay) Serve(ctx context.Context) error {
	defer r.upstream.Close()
	l, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", r.cfg.Listen, err)
	}
	var health *http.Server
	if r.cfg.HTTPEndpoint != "" {
		hl, err := net.Listen("tcp", r.cfg.HTTPEndpoint)
		if err != nil {
			l.Close()
			return fmt.Errorf("--http-endpoint %s: %w", r.cfg.HTTPEndpoint, err)
		}
		health = &http.Server{Handler: http.HandlerFunc(r.healthz), ReadHeaderTimeout: healthTimeout}
		go func() { _ = health.Serve(hl) }()
		defer health.Close()
	}
	r.log.WithFields(logrus.Fields{"listen": l.Addr().String(), "csiAddress": r.cfg.CSIAddress,
		"clientName": r.cfg.ClientName, "httpEndpoint": r.cfg.HTTPEndpoint}).Info("csi-relay serving")
	served := make(chan error, 1)
	go func() { served <- r.server.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	r.log.WithField("drainTimeout", r.cfg.DrainTimeout.String()).Info("csi-relay draining calls in flight")
	drained := make(chan struct{})
	go func() { r.server.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(r.cfg.DrainTimeout):
		r.log.Warn("csi-relay: calls still in flight after the drain timeout; stopping them")
		r.server.Stop()
	}
	<-served
	return nil
}

// forward passes one unary call on to the driver: the request frame as
// received, the caller's metadata and deadline; the driver's answer,
// headers, trailers and status back. One log line a call, no bodies.
func (r *Relay) forward(_ any, stream grpc.ServerStream) error {
	ctx := stream.Context()
	method, _ := grpc.MethodFromServerStream(stream)
	start := time.Now()
	err := r.pass(ctx, method, stream)
	fields := logrus.Fields{"method": method, "code": status.Code(err).String(),
		"ms": fmt.Sprintf("%.1f", float64(time.Since(start).Microseconds())/1000), "peer": peerName(ctx)}
	if err != nil && status.Code(err) != codes.NotFound && status.Code(err) != codes.AlreadyExists {
		r.log.WithFields(fields).Warn("csi-relay call")
	} else {
		r.log.WithFields(fields).Info("csi-relay call")
	}
	return err
}

func (r *Relay) pass(ctx context.Context, method string, stream grpc.ServerStream) error {
	if !forwarded[method] {
		return status.Errorf(codes.PermissionDenied, "csi-relay does not forward %s: it passes on only the calls the example.io/csi snapshotter makes", method)
	}
	var req, resp frame
	defer req.free()  // unless sent on
	defer resp.free() // likewise
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range md {
		if !strings.HasPrefix(k, ":") && k != "content-type" && k != "user-agent" && !strings.HasPrefix(k, "grpc-") {
			out[k] = v
		}
	}
	var header, trailer metadata.MD
	err := r.upstream.Invoke(metadata.NewOutgoingContext(ctx, out), method, &req, &resp,
		grpc.ForceCodecV2(rawCodec{}), grpc.Header(&header), grpc.Trailer(&trailer), grpc.WaitForReady(false))
	if len(header) > 0 {
		_ = stream.SetHeader(header)
	}
	stream.SetTrailer(trailer)
	if err != nil {
		return err
	}
	return stream.SendMsg(&resp)
}

// peerName is the caller's address and certificate name, for the log.
func peerName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "unknown"
	}
	name := p.Addr.String()
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
		name += " " + certNames(ti.State.PeerCertificates[0])
	}
	return name
}

// healthz answers 200 when the driver's socket answers Probe.
func (r *Relay) healthz(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), healthTimeout)
	defer cancel()
	if _, err := csi.NewIdentityClient(r.upstream).Probe(ctx, &csi.ProbeRequest{}); err != nil {
		http.Error(w, fmt.Sprintf("CSI driver at %s: %v", r.cfg.CSIAddress, status.Convert(err).Message()), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}
