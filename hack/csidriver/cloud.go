package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/GoogleCloudPlatform/k8s-cloud-provider/pkg/cloud/meta"
	"github.com/container-storage-interface/spec/lib/go/csi"
	computev1 "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	gce "sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/gce-cloud-provider/compute"
	"sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/parameters"
)

// lockedCloud serialises the fake GCE: its state is plain maps with no
// lock, and concurrent CSI calls (Velero's parallel item blocks) crash it
// with "concurrent map iteration and map write". Each method holds the
// lock for the whole call, as one GCE API request is atomic.
// With zones set, a disk in any other zone is refused as GCE refuses an
// unknown zone (the fake itself takes any).
type lockedCloud struct {
	mu    sync.Mutex
	f     *gce.FakeCloudProvider
	zones map[string]bool
}

var _ gce.GCECompute = (*lockedCloud)(nil)

func (c *lockedCloud) GetDefaultProject() string { return c.f.GetDefaultProject() } // immutable
func (c *lockedCloud) GetDefaultZone() string    { return c.f.GetDefaultZone() }    // immutable

func (c *lockedCloud) GetDisk(ctx context.Context, project string, key *meta.Key) (*gce.CloudDisk, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetDisk(ctx, project, key)
}

func (c *lockedCloud) RepairUnderspecifiedVolumeKey(ctx context.Context, project string, key *meta.Key, fallbackZone string) (string, *meta.Key, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.RepairUnderspecifiedVolumeKey(ctx, project, key, fallbackZone)
}

func (c *lockedCloud) InsertDisk(ctx context.Context, project string, key *meta.Key, params parameters.DiskParameters, capBytes int64, capacityRange *csi.CapacityRange, replicaZones []string, snapshotID string, volumeContentSourceVolumeID string, multiWriter bool, accessMode string) error {
	if len(c.zones) > 0 && key.Zone != "" && !c.zones[key.Zone] {
		return &googleapi.Error{Code: 400, Message: fmt.Sprintf("Invalid value for field 'zone': '%s'. Unknown zone.", key.Zone)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.InsertDisk(ctx, project, key, params, capBytes, capacityRange, replicaZones, snapshotID, volumeContentSourceVolumeID, multiWriter, accessMode)
}

func (c *lockedCloud) DeleteDisk(ctx context.Context, project string, key *meta.Key) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.DeleteDisk(ctx, project, key)
}

func (c *lockedCloud) UpdateDisk(ctx context.Context, project string, key *meta.Key, existing *gce.CloudDisk, params parameters.ModifyVolumeParameters) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.UpdateDisk(ctx, project, key, existing, params)
}

func (c *lockedCloud) AttachDisk(ctx context.Context, project string, key *meta.Key, readWrite, diskType, instanceZone, instanceName string, forceAttach bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.AttachDisk(ctx, project, key, readWrite, diskType, instanceZone, instanceName, forceAttach)
}

func (c *lockedCloud) DetachDisk(ctx context.Context, project, deviceName, instanceZone, instanceName string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.DetachDisk(ctx, project, deviceName, instanceZone, instanceName)
}

func (c *lockedCloud) ConvertDisk(ctx context.Context, project string, key *meta.Key, instanceName, instanceZone string, quickConversionOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ConvertDisk(ctx, project, key, instanceName, instanceZone, quickConversionOnly)
}

func (c *lockedCloud) SetDiskAccessMode(ctx context.Context, project string, key *meta.Key, accessMode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.SetDiskAccessMode(ctx, project, key, accessMode)
}

func (c *lockedCloud) SetDiskLabels(ctx context.Context, project string, key *meta.Key, disk *gce.CloudDisk, labels map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.SetDiskLabels(ctx, project, key, disk, labels)
}

func (c *lockedCloud) ListCompatibleDiskTypeZones(ctx context.Context, project string, zones []string, diskType string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListCompatibleDiskTypeZones(ctx, project, zones, diskType)
}

func (c *lockedCloud) GetDiskSourceURI(project string, key *meta.Key) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetDiskSourceURI(project, key)
}

func (c *lockedCloud) GetDiskTypeURI(project string, key *meta.Key, diskType string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetDiskTypeURI(project, key, diskType)
}

func (c *lockedCloud) WaitForAttach(ctx context.Context, project string, key *meta.Key, diskType, instanceZone, instanceName string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.WaitForAttach(ctx, project, key, diskType, instanceZone, instanceName)
}

func (c *lockedCloud) ResizeDisk(ctx context.Context, project string, key *meta.Key, requestBytes int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ResizeDisk(ctx, project, key, requestBytes)
}

func (c *lockedCloud) ListDisks(ctx context.Context, fields []googleapi.Field) ([]*computev1.Disk, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListDisks(ctx, fields)
}

func (c *lockedCloud) ListDisksWithFilter(ctx context.Context, fields []googleapi.Field, filter string) ([]*computev1.Disk, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListDisksWithFilter(ctx, fields, filter)
}

func (c *lockedCloud) ListInstances(ctx context.Context, fields []googleapi.Field) ([]*computev1.Instance, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListInstances(ctx, fields)
}

func (c *lockedCloud) GetReplicaZoneURI(project string, zone string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetReplicaZoneURI(project, zone)
}

func (c *lockedCloud) GetInstanceOrError(ctx context.Context, project, instanceZone, instanceName string) (*computev1.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetInstanceOrError(ctx, project, instanceZone, instanceName)
}

func (c *lockedCloud) ListZones(ctx context.Context, region string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListZones(ctx, region)
}

func (c *lockedCloud) ListSnapshots(ctx context.Context, filter string) ([]*computev1.Snapshot, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListSnapshots(ctx, filter)
}

func (c *lockedCloud) GetSnapshot(ctx context.Context, project, name string) (*computev1.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetSnapshot(ctx, project, name)
}

func (c *lockedCloud) CreateSnapshot(ctx context.Context, project string, key *meta.Key, name string, params parameters.SnapshotParameters) (*computev1.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.CreateSnapshot(ctx, project, key, name, params)
}

func (c *lockedCloud) DeleteSnapshot(ctx context.Context, project, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.DeleteSnapshot(ctx, project, name)
}

func (c *lockedCloud) ListImages(ctx context.Context, filter string) ([]*computev1.Image, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.ListImages(ctx, filter)
}

func (c *lockedCloud) GetImage(ctx context.Context, project, name string) (*computev1.Image, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.GetImage(ctx, project, name)
}

func (c *lockedCloud) CreateImage(ctx context.Context, project string, key *meta.Key, name string, params parameters.SnapshotParameters) (*computev1.Image, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.CreateImage(ctx, project, key, name, params)
}

func (c *lockedCloud) DeleteImage(ctx context.Context, project, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f.DeleteImage(ctx, project, name)
}

// InsertInstance is the fake's own setup call, locked the same way.
func (c *lockedCloud) InsertInstance(instance *computev1.Instance, zone, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.f.InsertInstance(instance, zone, name)
}
