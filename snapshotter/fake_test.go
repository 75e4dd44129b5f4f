package snapshotter_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// fakeDriver answers with scripted gRPC codes: only for the answers a
// real driver will not give on demand, and for a driver without snapshots.
type fakeDriver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer

	mu       sync.Mutex
	caps     []csi.ControllerServiceCapability_RPC_Type
	create   []error // answers to CreateSnapshot, in order; nil is success
	ready    []bool  // ready_to_use of the successful answers, in order
	del      []error
	calls    map[string]int
	deleted  []string
	secrets  []map[string]string
	lastName string
}

func (f *fakeDriver) next(list *[]error) error {
	if len(*list) == 0 {
		return nil
	}
	e := (*list)[0]
	*list = (*list)[1:]
	return e
}

func (f *fakeDriver) count(m string) {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[m]++
}

func (f *fakeDriver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

func (f *fakeDriver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: "fake.csi.example.io", VendorVersion: "1"}, nil
}

func (f *fakeDriver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var out []*csi.ControllerServiceCapability
	for _, c := range f.caps {
		out = append(out, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: out}, nil
}

func (f *fakeDriver) CreateSnapshot(_ context.Context, r *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("CreateSnapshot")
	f.secrets = append(f.secrets, r.GetSecrets())
	f.lastName = r.GetName()
	if err := f.next(&f.create); err != nil {
		return nil, err
	}
	ready := true
	if len(f.ready) > 0 {
		ready, f.ready = f.ready[0], f.ready[1:]
	}
	return &csi.CreateSnapshotResponse{Snapshot: &csi.Snapshot{SnapshotId: "snap-" + r.GetName(), SourceVolumeId: r.GetSourceVolumeId(), ReadyToUse: ready}}, nil
}

func (f *fakeDriver) DeleteSnapshot(_ context.Context, r *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("DeleteSnapshot")
	if err := f.next(&f.del); err != nil {
		return nil, err
	}
	f.deleted = append(f.deleted, r.GetSnapshotId())
	return &csi.DeleteSnapshotResponse{}, nil
}

var allCaps = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
}

// serve starts f on a fresh unix socket and returns its endpoint.
func serve(t *testing.T, f *fakeDriver) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fake.sock")
	t.Cleanup(serveAt(t, sock, f).Stop)
	return "unix://" + sock
}

// serveAt serves f on the unix socket sock until stopped.
func serveAt(t *testing.T, sock string, f *fakeDriver) *grpc.Server {
	t.Helper()
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, f)
	csi.RegisterControllerServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	return srv
}

func initFake(t *testing.T, f *fakeDriver, extra ...string) *snapshotter.Snapshotter {
	t.Helper()
	cfg := map[string]string{"driver": "fake.csi.example.io", "endpoint": serve(t, f), "maxRetries": "3", "pollInterval": "50ms"}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(cfg))
	return vs
}

var tags = map[string]string{"velero.io/backup": "b1", "velero.io/pv": "pv1"}

func TestCreateSnapshotCodes(t *testing.T) {
	tests := []struct {
		name     string
		answers  []error
		calls    int
		errHas   string
		deletion bool
		cfgErr   bool // errors.Is(err, snapshotter.ErrDriverConfig)
	}{
		{"ABORTED (busy volume) is retried", []error{status.Error(codes.Aborted, "busy"), status.Error(codes.Aborted, "busy")}, 3, "", false, false},
		{"UNAVAILABLE is retried", []error{status.Error(codes.Unavailable, "restarting")}, 2, "", false, false},
		{"RESOURCE_EXHAUSTED is retried", []error{status.Error(codes.ResourceExhausted, "quota")}, 2, "", false, false},
		// A failure the driver did not call a refusal may have left a snapshot:
		// one more create by the same name finds it, and it is deleted.
		{"retries end, then clean-up", []error{status.Error(codes.Aborted, "1"), status.Error(codes.Aborted, "2"), status.Error(codes.Aborted, "3"), status.Error(codes.Aborted, "4")}, 5, "Aborted", true, false},
		{"INVALID_ARGUMENT fails at once", []error{status.Error(codes.InvalidArgument, "bad parameter")}, 1, "bad parameter", false, false},
		{"NOT_FOUND fails at once", []error{status.Error(codes.NotFound, "no volume")}, 1, "no volume", false, false},
		{"FAILED_PRECONDITION fails at once", []error{status.Error(codes.FailedPrecondition, "attached")}, 1, "attached", false, false},
		{"ALREADY_EXISTS says why", []error{status.Error(codes.AlreadyExists, "other source")}, 1, "already exists for another source volume", false, false},
		{"INTERNAL fails at once, then clean-up", []error{status.Error(codes.Internal, "boom")}, 2, "boom", true, false},
		// The same fault twice and nothing made: the driver's words first, then the keys.
		{"INTERNAL twice: a configuration error", []error{status.Error(codes.Internal, "missing clusterID"), status.Error(codes.Internal, "missing clusterID")}, 2,
			"missing clusterID (CSI driver fake.csi.example.io answered Internal to CreateSnapshot", false, true},
		{"UNKNOWN twice: a configuration error", []error{status.Error(codes.Unknown, "no secret"), status.Error(codes.Unknown, "no secret")}, 2,
			"no secret (CSI driver fake.csi.example.io answered Unknown to CreateSnapshot", false, true},
		{"INTERNAL then UNKNOWN: not the same fault", []error{status.Error(codes.Internal, "boom"), status.Error(codes.Unknown, "other")}, 2, "boom", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDriver{caps: allCaps, create: tt.answers}
			vs := initFake(t, f)
			id, err := vs.CreateSnapshot("vol-1", "", tags)
			assert.Equal(t, tt.calls, f.calls["CreateSnapshot"])
			if tt.deletion {
				assert.Len(t, f.deleted, 1, "what the failed create may have made is deleted")
			} else {
				assert.Empty(t, f.deleted, "a refused create left nothing to delete")
			}
			if tt.errHas == "" {
				require.NoError(t, err)
				assert.NotEmpty(t, id)
				return
			}
			require.Error(t, err)
			assert.Empty(t, id, "a failure never returns an ID")
			assert.Contains(t, err.Error(), tt.errHas)
			assert.Equal(t, tt.cfgErr, errors.Is(err, snapshotter.ErrDriverConfig), err.Error())
			if tt.cfgErr {
				assert.True(t, strings.HasPrefix(err.Error(), strings.SplitN(tt.errHas, " (", 2)[0]), "the driver's words lead: %s", err)
			}
		})
	}
}

func TestCreateSnapshotWaitsForReady(t *testing.T) {
	f := &fakeDriver{caps: allCaps, ready: []bool{false, false, true}}
	vs := initFake(t, f)
	id, err := vs.CreateSnapshot("vol-1", "", tags)
	require.NoError(t, err)
	assert.NotEmpty(t, id)
	assert.Equal(t, 3, f.calls["CreateSnapshot"], "polled until ready_to_use")
	assert.Len(t, f.lastName, len("velero-")+32)
}

func TestSnapshotNeverReadyIsDeleted(t *testing.T) {
	never := make([]bool, 1000)
	f := &fakeDriver{caps: allCaps, ready: never}
	vs := initFake(t, f, "snapshotReadyTimeout", "1s")
	id, err := vs.CreateSnapshot("vol-1", "", tags)
	require.Error(t, err)
	assert.Empty(t, id)
	assert.Contains(t, err.Error(), "not ready after 1s")
	assert.Len(t, f.deleted, 1, "the snapshot no backup will record is deleted")
}

func TestCreateSnapshotNeedsTags(t *testing.T) {
	vs := initFake(t, &fakeDriver{caps: allCaps})
	_, err := vs.CreateSnapshot("vol-1", "", map[string]string{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "velero.io/backup")
}

func TestDeleteSnapshotCodes(t *testing.T) {
	tests := []struct {
		name    string
		answers []error
		ok      bool
		calls   int
	}{
		{"NOT_FOUND is success", []error{status.Error(codes.NotFound, "gone")}, true, 1},
		{"ABORTED is retried", []error{status.Error(codes.Aborted, "busy")}, true, 2},
		{"FAILED_PRECONDITION fails", []error{status.Error(codes.FailedPrecondition, "in use")}, false, 1},
		{"INTERNAL fails", []error{status.Error(codes.Internal, "boom")}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDriver{caps: allCaps, del: tt.answers}
			vs := initFake(t, f)
			err := vs.DeleteSnapshot("snap-1")
			assert.Equal(t, tt.ok, err == nil, "%v", err)
			assert.Equal(t, tt.calls, f.calls["DeleteSnapshot"])
		})
	}
}

func TestInitNeedsCapabilities(t *testing.T) {
	for _, c := range []struct {
		caps    []csi.ControllerServiceCapability_RPC_Type
		missing string
	}{
		{[]csi.ControllerServiceCapability_RPC_Type{csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME}, "CREATE_DELETE_SNAPSHOT"},
		{[]csi.ControllerServiceCapability_RPC_Type{csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT}, "CREATE_DELETE_VOLUME"},
	} {
		t.Run(c.missing, func(t *testing.T) {
			ep := serve(t, &fakeDriver{caps: c.caps})
			vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
			err := vs.Init(map[string]string{"driver": "fake.csi.example.io", "endpoint": ep})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "CSI driver fake.csi.example.io")
			assert.Contains(t, err.Error(), "lacks the controller capability "+c.missing)
		})
	}
}

func TestSecretsPassedNeverLogged(t *testing.T) {
	f := &fakeDriver{caps: allCaps}
	cfg := map[string]string{"driver": "fake.csi.example.io", "endpoint": serve(t, f),
		"snapshotterSecretName": "csi-creds", "snapshotterSecretNamespace": "velero", "parameters.type": "pd-ssd"}
	k := testenv.StartKubeAPI(t)
	k.PutSecret("velero", "csi-creds", map[string]string{"token": "s3cr3t-token"})
	t.Setenv("KUBECONFIG", k.Kubeconfig)
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(cfg))
	_, err := vs.CreateSnapshot("vol-1", "", tags)
	require.NoError(t, err)
	require.NotEmpty(t, f.secrets)
	assert.Equal(t, "s3cr3t-token", f.secrets[0]["token"])
	assert.NotContains(t, logs.Text(), "s3cr3t-token")
	assert.NotEmpty(t, logs.Text())

	cfg["snapshotterSecretName"] = "missing"
	err = snapshotter.New(logs.Logger, config.Features{}, kube.New()).Init(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `read CSI secret velero/missing: secrets "missing" not found`)
}

// A driver that restarts (new process, same socket) is found again by the
// next call: the connection redials by itself, UNAVAILABLE meanwhile is
// retried.
func TestDriverRestartIsRedialled(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "restart.sock")
	first := serveAt(t, sock, &fakeDriver{caps: allCaps})
	vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(map[string]string{"driver": "fake.csi.example.io", "endpoint": "unix://" + sock, "maxRetries": "10"}))
	first.Stop() // the driver's pod restarts
	second := &fakeDriver{caps: allCaps}
	defer serveAt(t, sock, second).Stop()
	id, err := vs.CreateSnapshot("vol-1", "", tags)
	require.NoError(t, err)
	assert.NotEmpty(t, id)
	assert.Equal(t, 1, second.calls["CreateSnapshot"], "the call reached the restarted driver")
}
