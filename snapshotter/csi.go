package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/backoff"
)

// controller is what the snapshotter needs of a CSI driver.
type controller interface {
	Probe(context.Context, *csi.ProbeRequest, ...grpc.CallOption) (*csi.ProbeResponse, error)
	GetPluginInfo(context.Context, *csi.GetPluginInfoRequest, ...grpc.CallOption) (*csi.GetPluginInfoResponse, error)
	ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest, ...grpc.CallOption) (*csi.ControllerGetCapabilitiesResponse, error)
	CreateSnapshot(context.Context, *csi.CreateSnapshotRequest, ...grpc.CallOption) (*csi.CreateSnapshotResponse, error)
	DeleteSnapshot(context.Context, *csi.DeleteSnapshotRequest, ...grpc.CallOption) (*csi.DeleteSnapshotResponse, error)
	ListSnapshots(context.Context, *csi.ListSnapshotsRequest, ...grpc.CallOption) (*csi.ListSnapshotsResponse, error)
	CreateVolume(context.Context, *csi.CreateVolumeRequest, ...grpc.CallOption) (*csi.CreateVolumeResponse, error)
}

// client joins the identity and controller services of one connection.
type client struct {
	csi.IdentityClient
	csi.ControllerClient
}

var _ controller = client{}

// conns keeps one gRPC connection per endpoint for the whole process:
// Velero calls Init once per PV on a restore, and the connection (which
// redials by itself when the driver restarts) is reused, never leaked.
var conns = struct {
	sync.Mutex
	m map[string]*grpc.ClientConn
}{m: map[string]*grpc.ClientConn{}}

// dial returns the shared client for endpoint. A new transport (TCP with
// mTLS, say) is a new case here, not a rewrite.
func dial(endpoint string) (controller, error) {
	conns.Lock()
	defer conns.Unlock()
	if c, ok := conns.m[endpoint]; ok {
		return client{csi.NewIdentityClient(c), csi.NewControllerClient(c)}, nil
	}
	c, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpcConnectParams()))
	if err != nil {
		return nil, fmt.Errorf("CSI endpoint %s: %w", endpoint, err)
	}
	conns.m[endpoint] = c
	return client{csi.NewIdentityClient(c), csi.NewControllerClient(c)}, nil
}

// checkDriver asks the driver who it is and what it can do: the name must
// be the configured driver and snapshots and volumes must be supported.
func checkDriver(ctx context.Context, c controller, cfg *config.Snapshotter) (caps map[csi.ControllerServiceCapability_RPC_Type]bool, err error) {
	where := fmt.Sprintf("CSI driver %s at %s", cfg.Driver, cfg.Endpoint)
	if _, err := c.Probe(ctx, &csi.ProbeRequest{}); err != nil {
		return nil, fmt.Errorf("%s: probe: %w (is the controller socket mounted into the Velero pod?)", where, err)
	}
	info, err := c.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: plugin info: %w", where, err)
	}
	if info.GetName() != cfg.Driver {
		return nil, fmt.Errorf("%s: the socket serves driver %q, not %q", where, info.GetName(), cfg.Driver)
	}
	resp, err := c.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: controller capabilities: %w", where, err)
	}
	caps = map[csi.ControllerServiceCapability_RPC_Type]bool{}
	for _, cp := range resp.GetCapabilities() {
		caps[cp.GetRpc().GetType()] = true
	}
	for _, need := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	} {
		if !caps[need] {
			return nil, fmt.Errorf("%s lacks the controller capability %s, which this plugin needs", where, need)
		}
	}
	return caps, nil
}

// retryable says which gRPC answers are worth asking again: the driver is
// busy with the volume (ABORTED), away (UNAVAILABLE), or out of quota.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Aborted, codes.Unavailable, codes.ResourceExhausted:
		return true
	}
	return false
}

// callRetry is the wait between the attempts of a CSI call.
var callRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// call runs one CSI request under the operation timeout, retrying the
// transient answers with backoff; every other answer returns at once.
func (s *Snapshotter) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	retry := callRetry.Start()
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.OperationTimeout)
		err := fn(cctx)
		cancel()
		if err == nil || !retryable(err) || attempt >= s.cfg.MaxRetries {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		s.log.WithError(err).WithField("attempt", attempt+1).Debugf("%s: retrying", what)
		if !retry.Wait(ctx) {
			return fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		}
	}
}

// grpcConnectParams redial quickly: a driver that restarts is back in
// seconds, and the next call should find it.
func grpcConnectParams() grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
		MinConnectTimeout: 5 * time.Second,
	}
}
