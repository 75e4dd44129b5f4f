package veleroplugin

import (
	"context"
	"encoding/json"
	"fmt"

	proto "github.com/vmware-tanzu/velero/pkg/plugin/generated"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// VolumeSnapshotter is what Velero calls of a volume snapshotter plugin
// (the method set of Velero's volumesnapshotter/v1.VolumeSnapshotter).
type VolumeSnapshotter interface {
	Init(config map[string]string) error
	CreateVolumeFromSnapshot(snapshotID, volumeType, volumeAZ string, iops *int64) (volumeID string, err error)
	GetVolumeInfo(volumeID, volumeAZ string) (string, *int64, error)
	CreateSnapshot(volumeID, volumeAZ string, tags map[string]string) (snapshotID string, err error)
	DeleteSnapshot(snapshotID string) error
	GetVolumeID(pv runtime.Unstructured) (string, error)
	SetVolumeID(pv runtime.Unstructured, volumeID string) (runtime.Unstructured, error)
}

type snapshotterServer struct {
	proto.UnimplementedVolumeSnapshotterServer
	reg *registry[VolumeSnapshotter]
}

func (s *snapshotterServer) Init(_ context.Context, req *proto.VolumeSnapshotterInitRequest) (*proto.Empty, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.Empty, error) {
		return &proto.Empty{}, impl.Init(req.Config)
	})
}

func (s *snapshotterServer) CreateVolumeFromSnapshot(_ context.Context, req *proto.CreateVolumeRequest) (*proto.CreateVolumeResponse, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.CreateVolumeResponse, error) {
		var iops *int64 // 0 on the wire: not given
		if req.Iops != 0 {
			iops = &req.Iops
		}
		id, err := impl.CreateVolumeFromSnapshot(req.SnapshotID, req.VolumeType, req.VolumeAZ, iops)
		return &proto.CreateVolumeResponse{VolumeID: id}, err
	})
}

func (s *snapshotterServer) GetVolumeInfo(_ context.Context, req *proto.GetVolumeInfoRequest) (*proto.GetVolumeInfoResponse, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.GetVolumeInfoResponse, error) {
		volumeType, iops, err := impl.GetVolumeInfo(req.VolumeID, req.VolumeAZ)
		res := &proto.GetVolumeInfoResponse{VolumeType: volumeType}
		if iops != nil {
			res.Iops = *iops
		}
		return res, err
	})
}

func (s *snapshotterServer) CreateSnapshot(_ context.Context, req *proto.CreateSnapshotRequest) (*proto.CreateSnapshotResponse, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.CreateSnapshotResponse, error) {
		id, err := impl.CreateSnapshot(req.VolumeID, req.VolumeAZ, req.Tags)
		return &proto.CreateSnapshotResponse{SnapshotID: id}, err
	})
}

func (s *snapshotterServer) DeleteSnapshot(_ context.Context, req *proto.DeleteSnapshotRequest) (*proto.Empty, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.Empty, error) {
		return &proto.Empty{}, impl.DeleteSnapshot(req.SnapshotID)
	})
}

func (s *snapshotterServer) GetVolumeID(_ context.Context, req *proto.GetVolumeIDRequest) (*proto.GetVolumeIDResponse, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.GetVolumeIDResponse, error) {
		pv, err := decodePV(req.PersistentVolume)
		if err != nil {
			return nil, err
		}
		id, err := impl.GetVolumeID(pv)
		return &proto.GetVolumeIDResponse{VolumeID: id}, err
	})
}

func (s *snapshotterServer) SetVolumeID(_ context.Context, req *proto.SetVolumeIDRequest) (*proto.SetVolumeIDResponse, error) {
	return call(s.reg, req.Plugin, func(impl VolumeSnapshotter) (*proto.SetVolumeIDResponse, error) {
		pv, err := decodePV(req.PersistentVolume)
		if err != nil {
			return nil, err
		}
		updated, err := impl.SetVolumeID(pv, req.VolumeID)
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(updated.UnstructuredContent())
		if err != nil {
			return nil, fmt.Errorf("encoding the updated PersistentVolume: %w", err)
		}
		return &proto.SetVolumeIDResponse{PersistentVolume: out}, nil
	})
}

// decodePV reads the PersistentVolume the host sends as JSON.
func decodePV(b []byte) (*unstructured.Unstructured, error) {
	var pv unstructured.Unstructured
	if err := json.Unmarshal(b, &pv); err != nil {
		return nil, fmt.Errorf("decoding the PersistentVolume Velero sent: %w", err)
	}
	return &pv, nil
}
