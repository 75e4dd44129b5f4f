// Package snapshotter is the example.io/csi VolumeSnapshotter: PV
// snapshots taken, restored and deleted by calling a CSI driver's
// controller service directly, with no snapshot CRDs in the cluster.
package snapshotter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
	volumesnapshotter "github.com/vmware-tanzu/velero/pkg/plugin/velero/volumesnapshotter/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/backoff"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/logging"
)

// Name is the provider name users put in a VolumeSnapshotLocation.
const Name = "example.io/csi"

// Tags Velero puts on every snapshot request.
const (
	tagBackup = "velero.io/backup"
	tagPV     = "velero.io/pv"
)

// Snapshotter implements Velero's VolumeSnapshotter over CSI gRPC.
type Snapshotter struct {
	log      logrus.FieldLogger
	features config.Features
	kube     kube.Reader

	cfg      *config.Snapshotter
	csi      controller
	canList  bool
	csiCreds map[string]string

	mu      sync.Mutex
	volumes map[string]volumeInfo        // by volume handle, from GetVolumeID
	context map[string]map[string]string // volume_context by new volume ID
}

var _ volumesnapshotter.VolumeSnapshotter = (*Snapshotter)(nil)

// New returns a Snapshotter that logs through log, knows Velero's
// --features, and reads its ConfigMap and CSI secrets through k.
func New(log logrus.FieldLogger, features config.Features, k kube.Reader) *Snapshotter {
	return &Snapshotter{log: log, features: features, kube: k,
		volumes: map[string]volumeInfo{}, context: map[string]map[string]string{}}
}

// Init parses the VSL config, connects to the driver (reusing the
// process's connection to that endpoint) and checks that it is the named
// driver with snapshot and volume support, all within dialTimeout.
func (s *Snapshotter) Init(cfg map[string]string) error {
	pc, err := s.kube.PluginConfig(context.Background(), common.PluginKindVolumeSnapshotter, Name) // within kube.Timeout
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	c, err := config.ParseSnapshotter(config.Layers(pc, "VSL config", cfg)...)
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	logging.Apply(s.log, c.LogLevel)
	if s.features[config.EnableCSI] {
		s.log.WithField("driver", c.Driver).Warn("Velero runs with --features=EnableCSI: it backs up CSI volumes through " +
			"VolumeSnapshot objects and will not call this VolumeSnapshotter for them; turn EnableCSI off to use example.io/csi")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.DialTimeout)
	defer cancel()
	cl, err := dial(c.Endpoint)
	if err != nil {
		return err
	}
	caps, err := checkDriver(ctx, cl, c)
	if err != nil {
		return err
	}
	var creds map[string]string
	if c.SecretName != "" {
		if creds, err = csiSecrets(ctx, s.kube, c.SecretNamespace, c.SecretName); err != nil {
			return fmt.Errorf("read CSI secret %s/%s: %w", c.SecretNamespace, c.SecretName, err)
		}
	}
	s.mu.Lock()
	s.cfg, s.csi, s.csiCreds = c, cl, creds
	s.canList = caps[csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS]
	s.mu.Unlock()
	pc.Log(s.log, c.Fields(), "CSI snapshotter settings (value and where it came from)")
	return nil
}

// GetVolumeID returns the volume handle of a PV of this driver and "" for
// any other PV. It remembers what a restore will need of the PV.
func (s *Snapshotter) GetVolumeID(pv runtime.Unstructured) (string, error) {
	var p corev1.PersistentVolume
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(pv.UnstructuredContent(), &p); err != nil {
		return "", fmt.Errorf("read PV: %w", err)
	}
	if p.Spec.CSI == nil || p.Spec.CSI.Driver != s.cfg.Driver || p.Spec.CSI.VolumeHandle == "" {
		return "", nil
	}
	s.mu.Lock()
	s.volumes[p.Spec.CSI.VolumeHandle] = infoFromPV(&p)
	s.mu.Unlock()
	return p.Spec.CSI.VolumeHandle, nil
}

// SetVolumeID points a restored PV at volumeID, with the volume context
// the driver returned when it created that volume.
func (s *Snapshotter) SetVolumeID(pv runtime.Unstructured, volumeID string) (runtime.Unstructured, error) {
	var p corev1.PersistentVolume
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(pv.UnstructuredContent(), &p); err != nil {
		return nil, fmt.Errorf("read PV: %w", err)
	}
	if p.Spec.CSI == nil {
		return nil, fmt.Errorf("PV %s has no spec.csi", p.Name)
	}
	p.Spec.CSI.VolumeHandle = volumeID
	s.mu.Lock()
	if vc, ok := s.context[volumeID]; ok {
		p.Spec.CSI.VolumeAttributes = vc
	}
	s.mu.Unlock()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&p)
	if err != nil {
		return nil, fmt.Errorf("write PV %s: %w", p.Name, err)
	}
	out := pv.NewEmptyInstance()
	out.SetUnstructuredContent(m)
	return out, nil
}

// GetVolumeInfo returns, as the volume type Velero stores in the backup,
// what a restore needs of the volume (capacity, mode, fs type, access).
// IOPS are not a CSI notion: nil.
func (s *Snapshotter) GetVolumeInfo(volumeID, _ string) (string, *int64, error) {
	s.mu.Lock()
	vi, ok := s.volumes[volumeID]
	s.mu.Unlock()
	if !ok {
		return "", nil, fmt.Errorf("volume %s was not seen by GetVolumeID in this plugin process", volumeID)
	}
	return vi.encode(), nil, nil
}

// CreateSnapshot snapshots volumeID under a name fixed by the backup and
// PV tags (a retry finds the same snapshot) and waits until the driver
// reports it ready to use. A snapshot that does not become ready in time
// is deleted again, so nothing is left that no backup refers to.
func (s *Snapshotter) CreateSnapshot(volumeID, _ string, tags map[string]string) (string, error) {
	if tags[tagBackup] == "" || tags[tagPV] == "" {
		return "", fmt.Errorf("snapshot of %s: tags %s and %s are required", volumeID, tagBackup, tagPV)
	}
	name := snapshotName(tags[tagBackup], tags[tagPV], volumeID)
	log := s.log.WithFields(logrus.Fields{"volumeID": volumeID, "snapshotName": name, "backup": tags[tagBackup]})
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SnapshotReadyTimeout)
	defer cancel()
	req := &csi.CreateSnapshotRequest{SourceVolumeId: volumeID, Name: name, Secrets: s.csiCreds, Parameters: s.cfg.SnapshotParameters}
	start := time.Now()
	// A driver often answers "not ready" once, then is ready.
	poll := backoff.Policy{Initial: 25 * time.Millisecond, Max: s.cfg.PollInterval, Multiplier: 2, Jitter: 0.2}.Start()
	id := ""
	for {
		var resp *csi.CreateSnapshotResponse
		err := s.call(ctx, "create snapshot "+name+" of "+volumeID, func(ctx context.Context) (err error) {
			resp, err = s.csi.CreateSnapshot(ctx, req)
			return err
		})
		switch {
		case status.Code(err) == codes.AlreadyExists:
			return "", fmt.Errorf("%w: a snapshot named %s already exists for another source volume", err, name)
		case err != nil && id != "":
			s.cleanup(log, id, err)
			return "", err
		case err != nil:
			return "", err
		}
		snap := resp.GetSnapshot()
		if snap.GetSnapshotId() == "" {
			return "", fmt.Errorf("create snapshot %s of %s: the driver returned no snapshot ID", name, volumeID)
		}
		id = snap.GetSnapshotId()
		if snap.GetReadyToUse() {
			log.WithFields(logrus.Fields{"snapshotID": id, "seconds": fmt.Sprintf("%.1f", time.Since(start).Seconds())}).Info("CSI snapshot ready")
			return id, nil
		}
		log.WithField("snapshotID", id).Debug("snapshot not ready yet")
		if !poll.Wait(ctx) {
			err := fmt.Errorf("snapshot %s of volume %s not ready after %s (snapshotReadyTimeout)", id, volumeID, s.cfg.SnapshotReadyTimeout)
			s.cleanup(log, id, err)
			return "", err
		}
	}
}

// cleanup deletes a snapshot that will not be recorded in any backup.
func (s *Snapshotter) cleanup(log logrus.FieldLogger, id string, cause error) {
	if err := s.DeleteSnapshot(id); err != nil {
		log.WithError(err).WithField("snapshotID", id).Error("could not delete the snapshot of a failed backup; delete it by hand")
		return
	}
	log.WithError(cause).WithField("snapshotID", id).Warn("snapshot deleted after failure")
}

// CreateVolumeFromSnapshot makes a new volume from snapshotID with what
// the backup recorded in volumeType, and returns its ID.
func (s *Snapshotter) CreateVolumeFromSnapshot(snapshotID, volumeType, _ string, _ *int64) (string, error) {
	if snapshotID == "" {
		return "", errors.New("create volume from snapshot: the snapshot ID is empty")
	}
	vi, err := decodeVolumeType(volumeType)
	if err != nil {
		return "", fmt.Errorf("create volume from snapshot %s: %w", snapshotID, err)
	}
	caps, err := vi.capabilities()
	if err != nil {
		return "", fmt.Errorf("create volume from snapshot %s: %w", snapshotID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.OperationTimeout*time.Duration(s.cfg.MaxRetries+2))
	defer cancel()
	size := max(vi.Capacity, s.snapshotSize(ctx, snapshotID))
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	name := volumeName(snapshotID, hex.EncodeToString(nonce))
	req := &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: caps,
		Parameters:         s.cfg.RestoreParameters,
		Secrets:            s.csiCreds,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapshotID}}},
	}
	var resp *csi.CreateVolumeResponse
	if err := s.call(ctx, "create volume "+name+" from snapshot "+snapshotID, func(ctx context.Context) (err error) {
		resp, err = s.csi.CreateVolume(ctx, req)
		return err
	}); err != nil {
		return "", err
	}
	id := resp.GetVolume().GetVolumeId()
	if id == "" {
		return "", fmt.Errorf("create volume %s from snapshot %s: the driver returned no volume ID", name, snapshotID)
	}
	source := resp.GetVolume().GetContentSource().GetSnapshot().GetSnapshotId()
	if source != "" && source != snapshotID {
		return "", fmt.Errorf("create volume %s from snapshot %s: the driver made volume %s from snapshot %s", name, snapshotID, id, source)
	}
	s.mu.Lock()
	s.context[id] = resp.GetVolume().GetVolumeContext()
	s.mu.Unlock()
	s.log.WithFields(logrus.Fields{"snapshotID": snapshotID, "volumeID": id, "volumeName": name,
		"bytes": fmt.Sprint(resp.GetVolume().GetCapacityBytes()), "driverContentSource": source}).Info("volume restored from CSI snapshot")
	return id, nil
}

// snapshotSize asks the driver the snapshot's size, 0 when it cannot say.
func (s *Snapshotter) snapshotSize(ctx context.Context, id string) int64 {
	if !s.canList {
		return 0
	}
	var resp *csi.ListSnapshotsResponse
	err := s.call(ctx, "list snapshot "+id, func(ctx context.Context) (err error) {
		resp, err = s.csi.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: id, Secrets: s.csiCreds})
		return err
	})
	if err != nil {
		s.log.WithError(err).Debug("snapshot size unknown; using the PV's capacity")
		return 0
	}
	for _, e := range resp.GetEntries() {
		if e.GetSnapshot().GetSnapshotId() == id {
			return e.GetSnapshot().GetSizeBytes()
		}
	}
	return 0
}

// DeleteSnapshot is idempotent: a snapshot the driver does not know is
// already gone, which is success (any error blocks Velero's deletion of
// the backup for good).
func (s *Snapshotter) DeleteSnapshot(snapshotID string) error {
	if snapshotID == "" {
		return errors.New("delete snapshot: the snapshot ID is empty")
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.OperationTimeout*time.Duration(s.cfg.MaxRetries+2))
	defer cancel()
	err := s.call(ctx, "delete snapshot "+snapshotID, func(ctx context.Context) error {
		_, err := s.csi.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapshotID, Secrets: s.csiCreds})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		return err
	})
	if err == nil {
		s.log.WithField("snapshotID", snapshotID).Info("CSI snapshot deleted")
	}
	return err
}
