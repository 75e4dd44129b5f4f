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

func (s *snapshotterServer) Init(_ context.Context, req *proto.VolumeSnapshotterInitRequest) (_ *proto.Empty, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	if err := impl.Init(req.Config); err != nil {
		return nil, grpcError(err)
	}
	return &proto.Empty{}, nil
}

func (s *snapshotterServer) CreateVolumeFromSnapshot(_ context.Context, req *proto.CreateVolumeRequest) (_ *proto.CreateVolumeResponse, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	var iops *int64 // 0 on the wire: not given
	if req.Iops != 0 {
		iops = &req.Iops
	}
	id, err := impl.CreateVolumeFromSnapshot(req.SnapshotID, req.VolumeType, req.VolumeAZ, iops)
	if err != nil {
		return nil, grpcError(err)
	}
	return &proto.CreateVolumeResponse{VolumeID: id}, nil
}

func (s *snapshotterServer) GetVolumeInfo(_ context.Context, req *proto.GetVolumeInfoRequest) (_ *proto.GetVolumeInfoResponse, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	volumeType, iops, err := impl.GetVolumeInfo(req.VolumeID, req.VolumeAZ)
	if err != nil {
		return nil, grpcError(err)
	}
	res := &proto.GetVolumeInfoResponse{VolumeType: volumeType}
	if iops != nil {
		res.Iops = *iops
	}
	return res, nil
}

func (s *snapshotterServer) CreateSnapshot(_ context.Context, req *proto.CreateSnapshotRequest) (_ *proto.CreateSnapshotResponse, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	id, err := impl.CreateSnapshot(req.VolumeID, req.VolumeAZ, req.Tags)
	if err != nil {
		return nil, grpcError(err)
	}
	return &proto.CreateSnapshotResponse{SnapshotID: id}, nil
}

func (s *snapshotterServer) DeleteSnapshot(_ context.Context, req *proto.DeleteSnapshotRequest) (_ *proto.Empty, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	if err := impl.DeleteSnapshot(req.SnapshotID); err != nil {
		return nil, grpcError(err)
	}
	return &proto.Empty{}, nil
}

func (s *snapshotterServer) GetVolumeID(_ context.Context, req *proto.GetVolumeIDRequest) (_ *proto.GetVolumeIDResponse, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	pv, err := decodePV(req.PersistentVolume)
	if err != nil {
		return nil, grpcError(err)
	}
	id, err := impl.GetVolumeID(pv)
	if err != nil {
		return nil, grpcError(err)
	}
	return &proto.GetVolumeIDResponse{VolumeID: id}, nil
}

func (s *snapshotterServer) SetVolumeID(_ context.Context, req *proto.SetVolumeIDRequest) (_ *proto.SetVolumeIDResponse, err error) {
	defer recoverTo(s.reg.log, &err)
	impl, err := s.reg.get(req.Plugin)
	if err != nil {
		return nil, err
	}
	pv, err := decodePV(req.PersistentVolume)
	if err != nil {
		return nil, grpcError(err)
	}
	updated, err := impl.SetVolumeID(pv, req.VolumeID)
	if err != nil {
		return nil, grpcError(err)
	}
	out, err := json.Marshal(updated.UnstructuredContent())
	if err != nil {
		return nil, grpcError(fmt.Errorf("encoding the updated PersistentVolume: %w", err))
	}
	return &proto.SetVolumeIDResponse{PersistentVolume: out}, nil
}

// decodePV reads the PersistentVolume the host sends as JSON.
func decodePV(b []byte) (*unstructured.Unstructured, error) {
	var pv unstructured.Unstructured
	if err := json.Unmarshal(b, &pv); err != nil {
		return nil, fmt.Errorf("decoding the PersistentVolume Velero sent: %w", err)
	}
	return &pv, nil
}
