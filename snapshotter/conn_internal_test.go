package snapshotter

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/kube"
)

type capsOnly struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
}

func (capsOnly) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

func (capsOnly) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: "c.example.io"}, nil
}

func (capsOnly) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var out []*csi.ControllerServiceCapability
	for _, c := range []csi.ControllerServiceCapability_RPC_Type{csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT, csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME} {
		out = append(out, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: out}, nil
}

// Velero calls Init once per PV on a restore: one connection serves them all.
func TestRepeatedInitSharesOneConnection(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, capsOnly{})
	csi.RegisterControllerServer(srv, capsOnly{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	before := len(conns.m)
	s := New(logrus.New(), config.Features{}, kube.New())
	for i := 0; i < 25; i++ {
		require.NoError(t, s.Init(map[string]string{"driver": "c.example.io", "endpoint": "unix://" + sock}))
	}
	assert.Equal(t, before+1, len(conns.m))
}
