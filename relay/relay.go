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

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
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
	ClientName   string // required: a DNS or URI SAN the client certificate must carry
	HTTPEndpoint string // "": none; else host:port of GET /healthz
	AllowTLS12   bool   // accept TLS 1.2 clients too (1.3 only otherwise)
	DrainTimeout time.Duration

	// Limits; zero takes the default (DefaultLimits).
	HandshakeTimeout time.Duration // a connection that has not finished TLS and HTTP/2's preface by then is closed
	MaxConnections   int           // open connections on --listen; more are closed at once
	MaxConnectionAge time.Duration // a connection is closed this long after it was made, so a client certificate is re-checked
	CallTimeout      time.Duration // the longest one forwarded call may take, whatever deadline the caller sent
}

// DefaultLimits are the limits a Config with zero values gets.
var DefaultLimits = Config{
	HandshakeTimeout: 5 * time.Second,
	MaxConnections:   100,
	MaxConnectionAge: time.Hour,
	CallTimeout:      5 * time.Minute,
}

// Fixed limits on an authenticated connection: the plugin opens one
// connection per endpoint and makes a few calls at a time, with a few
// hundred bytes of headers each.
const (
	MaxConcurrentStreams = 32       // streams at once on one connection; more are refused (REFUSED_STREAM)
	MaxHeaderListSize    = 64 << 10 // bytes of headers in one request; a larger list resets its stream
)

// withDefaults fills the zero limits and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.ClientName == "" {
		return c, errors.New("--client-name is required: the DNS or URI SAN that Velero's client certificate carries (velero, in deploy/csi-relay)")
	}
	d := DefaultLimits
	for _, l := range []struct {
		flag     string
		v        *time.Duration
		def, min time.Duration
	}{
		{"--handshake-timeout", &c.HandshakeTimeout, d.HandshakeTimeout, 100 * time.Millisecond},
		{"--max-connection-age", &c.MaxConnectionAge, d.MaxConnectionAge, time.Second},
		{"--call-timeout", &c.CallTimeout, d.CallTimeout, time.Second},
	} {
		if *l.v == 0 {
			*l.v = l.def
		}
		if *l.v < l.min {
			return c, fmt.Errorf("%s %s: want at least %s", l.flag, *l.v, l.min)
		}
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.MaxConnections < 1 {
		return c, fmt.Errorf("--max-connections %d: want 1 or more", c.MaxConnections)
	}
	return c, nil
}

// Relay is a running relay.
type Relay struct {
	cfg      Config
	log      logrus.FieldLogger
	upstream *grpc.ClientConn
	server   *grpc.Server
	certs    *certSource
	refusals *logLimiter // connections over the limit
	health   *probeCache
}

// New checks the configuration, loads the certificates and connects
// (lazily) to the driver's socket. opts are added to the gRPC server's
// options (tests add interceptors that inject faults).
func New(cfg Config, log logrus.FieldLogger, opts ...grpc.ServerOption) (*Relay, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
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
	r := &Relay{cfg: cfg, log: log, upstream: up, certs: certs, refusals: newLogLimiter(log)}
	r.health = &probeCache{probe: r.probe}
	opts = append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(certs.serverConfig())),
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.UnknownServiceHandler(r.forward),
		// An unauthenticated client: the TLS handshake and HTTP/2's
		// preface must be done within the handshake timeout.
		grpc.ConnectionTimeout(cfg.HandshakeTimeout),
		// An authenticated one: few streams, small headers, and a
		// connection closed after its maximum age (calls in flight get
		// the call timeout to finish), so the next handshake checks the
		// certificate and the CA file again.
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: cfg.MaxConnectionAge, MaxConnectionAgeGrace: cfg.CallTimeout}),
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
	l = limitListener(l, r.cfg.MaxConnections, func() {
		r.refusals.Warn(logrus.Fields{"maxConnections": r.cfg.MaxConnections}, "csi-relay: connection limit reached; closed a new connection (--max-connections)")
	})
	var health *http.Server
	if r.cfg.HTTPEndpoint != "" {
		hl, err := net.Listen("tcp", r.cfg.HTTPEndpoint)
		if err != nil {
			l.Close()
			return fmt.Errorf("--http-endpoint %s: %w", r.cfg.HTTPEndpoint, err)
		}
		health = r.healthServer()
		go func() { _ = health.Serve(limitListener(hl, healthMaxConnections, nil)) }()
		defer health.Close()
	}
	r.log.WithFields(logrus.Fields{"listen": l.Addr().String(), "csiAddress": r.cfg.CSIAddress,
		"clientName": r.cfg.ClientName, "httpEndpoint": r.cfg.HTTPEndpoint, "handshakeTimeout": r.cfg.HandshakeTimeout.String(),
		"maxConnections": r.cfg.MaxConnections, "maxConnectionAge": r.cfg.MaxConnectionAge.String(),
		"callTimeout": r.cfg.CallTimeout.String()}).Info("csi-relay serving")
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
	ctx, cancel := context.WithTimeout(stream.Context(), r.cfg.CallTimeout)
	defer cancel()
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
	req, err := recv(ctx, stream)
	if err != nil {
		return err
	}
	var resp frame
	defer req.free()  // unless sent on
	defer resp.free() // likewise
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range md {
		if !strings.HasPrefix(k, ":") && k != "content-type" && k != "user-agent" && !strings.HasPrefix(k, "grpc-") {
			out[k] = v
		}
	}
	var header, trailer metadata.MD
	err = r.upstream.Invoke(metadata.NewOutgoingContext(ctx, out), method, req, &resp,
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

// recv reads the request frame, or gives up when ctx ends: a stream
// whose body never comes holds no handler past the call timeout. gRPC
// ends the stream once the handler returns, which ends the read.
func recv(ctx context.Context, stream grpc.ServerStream) (*frame, error) {
	type result struct {
		f   *frame
		err error
	}
	got := make(chan result, 1)
	go func() {
		f := &frame{}
		err := stream.RecvMsg(f)
		got <- result{f, err}
	}()
	select {
	case res := <-got:
		if res.err != nil {
			res.f.free()
			return nil, res.err
		}
		return res.f, nil
	case <-ctx.Done():
		go func() { (<-got).f.free() }()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
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
