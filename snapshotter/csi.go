package snapshotter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
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
	DeleteVolume(context.Context, *csi.DeleteVolumeRequest, ...grpc.CallOption) (*csi.DeleteVolumeResponse, error)
	GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest, ...grpc.CallOption) (*csi.GetPluginCapabilitiesResponse, error)
	GetCapacity(context.Context, *csi.GetCapacityRequest, ...grpc.CallOption) (*csi.GetCapacityResponse, error)
	NodeGetInfo(context.Context, *csi.NodeGetInfoRequest, ...grpc.CallOption) (*csi.NodeGetInfoResponse, error)
}

// client joins the identity, controller and node services of one
// connection (a driver's controller socket often serves its node
// service too; a relay forwards no node call).
type client struct {
	csi.IdentityClient
	csi.ControllerClient
	csi.NodeClient
}

var _ controller = client{}

// conns keeps one gRPC connection per endpoint for the whole process:
// Velero calls Init once per PV on a restore, and the connection (which
// redials by itself when the driver or the relay restarts) is reused,
// never leaked. A network endpoint's connection is replaced when Init
// reads rotated TLS material; the old one is closed once the longest call
// that may still use it is over.
var conns = struct {
	sync.Mutex
	m map[string]*sharedConn
}{m: map[string]*sharedConn{}}

type sharedConn struct {
	conn        *grpc.ClientConn
	fingerprint string // of the TLS material; "" on a unix socket
}

// dial returns the shared client for endpoint, with mutual TLS when tc is
// set (a network endpoint). retire is how long an old connection stays
// open for calls in flight after rotated certificates replace it.
func dial(endpoint string, tc *clientTLS, retire time.Duration) (controller, error) {
	creds, fp := insecure.NewCredentials(), ""
	if tc != nil {
		creds, fp = credentials.NewTLS(tc.cfg), tc.fingerprint
	}
	conns.Lock()
	defer conns.Unlock()
	old, ok := conns.m[endpoint]
	if ok && old.fingerprint == fp {
		return newClient(old.conn), nil
	}
	c, err := grpc.NewClient(target(endpoint), grpc.WithTransportCredentials(creds), grpc.WithConnectParams(grpcConnectParams()))
	if err != nil {
		return nil, fmt.Errorf("CSI endpoint %s: %w", endpoint, err)
	}
	if ok {
		time.AfterFunc(retire, func() { old.conn.Close() })
	}
	conns.m[endpoint] = &sharedConn{conn: c, fingerprint: fp}
	return newClient(c), nil
}

func newClient(c *grpc.ClientConn) client {
	return client{csi.NewIdentityClient(c), csi.NewControllerClient(c), csi.NewNodeClient(c)}
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

// maybeInProgress says the call ended without an answer while the driver
// may still be carrying it out (external-snapshotter and
// external-provisioner treat these alike): a create by name is asked
// again, and finds what the first call made.
func maybeInProgress(err error) bool {
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// refused says the driver answered that it did not do the request, so a
// failed create left nothing behind.
func refused(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.AlreadyExists, codes.NotFound, codes.PermissionDenied, codes.Unauthenticated,
		codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		return true
	}
	return false
}

// callRetry is the wait between the attempts of a CSI call.
var callRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// session is what one Init set up: the parsed config, the driver's
// connection and what the driver said of itself. Init replaces it whole,
// and every call takes the one current when it starts, so Velero's
// concurrent calls (parallel item blocks, each with its own Init) never
// see half of one Init and half of another.
type session struct {
	log      logrus.FieldLogger
	cfg      *config.Snapshotter
	csi      controller
	canList  bool // LIST_SNAPSHOTS
	topology bool // VOLUME_ACCESSIBILITY_CONSTRAINTS: CreateVolume takes accessibility_requirements
	creds    map[string]string
}

// retriesTimeout bounds a call that is retried on transient answers:
// every attempt may take operationTimeout, with the backoff in between.
func (s *session) retriesTimeout() time.Duration {
	return s.cfg.OperationTimeout * time.Duration(s.cfg.MaxRetries+2)
}

// call runs one CSI request under the operation timeout, retrying the
// transient answers up to maxRetries with backoff. A create that is
// idempotent by name (byName) is also asked again after an answer that
// may mean "still in progress", for as long as ctx lasts. Every other
// answer returns at once, as the last error.
func (s *session) call(ctx context.Context, what string, byName bool, fn func(ctx context.Context) error) error {
	retry := callRetry.Start()
	for transient := 0; ; {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.OperationTimeout)
		err := fn(cctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case byName && maybeInProgress(err) && ctx.Err() == nil:
		case retryable(err) && transient < s.cfg.MaxRetries:
			transient++
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		s.log.WithError(err).Debugf("%s: asking again", what)
		if !retry.Wait(ctx) {
			return fmt.Errorf("%s: %w", what, err)
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
