package veleroplugin

import (
	"context"

	proto "github.com/vmware-tanzu/velero/pkg/plugin/generated"
)

// listerServer answers the host's first question: which plugins, of which
// kinds, this binary serves.
type listerServer struct {
	proto.UnimplementedPluginListerServer
	ids []*proto.PluginIdentifier
}

func (s *listerServer) ListPlugins(context.Context, *proto.Empty) (*proto.ListPluginsResponse, error) {
	return &proto.ListPluginsResponse{Plugins: s.ids}, nil
}
