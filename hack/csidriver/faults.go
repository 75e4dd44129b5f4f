package main

import (
	"context"
	"fmt"
	"maps"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	driver "sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/gce-pd-csi-driver"
)

// identityServer is the driver's identity, less the topology capability
// when noTopology is set.
type identityServer struct {
	*driver.GCEIdentityServer
	noTopology bool
}

func (s identityServer) GetPluginCapabilities(ctx context.Context, req *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	resp, err := s.GCEIdentityServer.GetPluginCapabilities(ctx, req)
	if err != nil || !s.noTopology {
		return resp, err
	}
	out := &csi.GetPluginCapabilitiesResponse{}
	for _, c := range resp.GetCapabilities() {
		if c.GetService().GetType() != csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS {
			out.Capabilities = append(out.Capabilities, c)
		}
	}
	return out, nil
}

// controllerServer is the driver's controller; with needParam set, a
// create without that parameter fails as ceph-csi's does without its
// clusterID: INTERNAL, having made nothing.
type controllerServer struct {
	*driver.GCEControllerServer
	needParam string
}

func (s controllerServer) missing(params map[string]string) (map[string]string, error) {
	if s.needParam == "" {
		return params, nil
	}
	if params[s.needParam] == "" {
		return nil, status.Error(codes.Internal, fmt.Sprintf("failed to fetch monitor list using %s (): missing configuration for cluster ID \"\"", s.needParam))
	}
	out := maps.Clone(params)
	delete(out, s.needParam)
	return out, nil
}

func (s controllerServer) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	p, err := s.missing(req.GetParameters())
	if err != nil {
		return nil, err
	}
	req.Parameters = p
	return s.GCEControllerServer.CreateSnapshot(ctx, req)
}

func (s controllerServer) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	p, err := s.missing(req.GetParameters())
	if err != nil {
		return nil, err
	}
	req.Parameters = p
	return s.GCEControllerServer.CreateVolume(ctx, req)
}
