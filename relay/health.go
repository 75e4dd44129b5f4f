package relay

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/status"
)

// The health port is plain HTTP for the kubelet, reachable by anyone who
// can reach the pod (NetworkPolicy always admits the node), so it holds
// little and does little per request.
const (
	healthTimeout        = 2 * time.Second // the driver Probe behind GET /healthz; also reading a request's headers
	healthMaxConnections = 16              // open connections; more are closed at once
	// ProbeInterval is how long a Probe's answer serves GET /healthz: at
	// most one Probe reaches the driver per interval, however many
	// requests come.
	ProbeInterval = time.Second
)

func (r *Relay) healthServer() *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(r.healthz),
		ReadHeaderTimeout: healthTimeout,
		ReadTimeout:       healthTimeout,
		WriteTimeout:      2 * healthTimeout, // the Probe may take healthTimeout
		IdleTimeout:       healthTimeout,     // the kubelet does not keep connections alive
		MaxHeaderBytes:    8 << 10,
	}
}

// healthz answers 200 when the driver's socket answers Probe.
func (r *Relay) healthz(w http.ResponseWriter, req *http.Request) {
	if err := r.health.result(req.Context()); err != nil {
		http.Error(w, fmt.Sprintf("CSI driver at %s: %v", r.cfg.CSIAddress, status.Convert(err).Message()), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (r *Relay) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	_, err := csi.NewIdentityClient(r.upstream).Probe(ctx, &csi.ProbeRequest{})
	return err
}

// probeCache runs one Probe at a time and keeps its answer for
// ProbeInterval; requests meanwhile wait for it or take it.
type probeCache struct {
	probe func(context.Context) error

	mu   sync.Mutex
	at   time.Time
	last error
}

func (p *probeCache) result(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < ProbeInterval {
		return p.last
	}
	// The Probe does not end with one request: a client that hangs up
	// must not make the next request Probe again.
	p.last = p.probe(context.WithoutCancel(ctx))
	p.at = time.Now()
	return p.last
}
