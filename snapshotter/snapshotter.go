// Package snapshotter is the example.io/csi VolumeSnapshotter: PV
// snapshots taken, restored and deleted by calling a CSI driver's
// controller service directly, with no snapshot CRDs in the cluster.
package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
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

var _ veleroplugin.VolumeSnapshotter = (*Snapshotter)(nil)

// New returns a Snapshotter that logs through log, knows Velero's
// --features, and reads its ConfigMap and CSI secrets through k.
func New(log logrus.FieldLogger, features config.Features, k kube.Reader) *Snapshotter {
	return &Snapshotter{log: log, features: features, kube: k,
		volumes: map[string]volumeInfo{}, context: map[string]map[string]string{}}
}

// Init parses the VSL config, connects to the driver (reusing the
// process's connection to that endpoint) and checks that it is the named
// driver with snapshot and volume support, all within dialTimeout. Its
// error is a *finding.Failure: the doctor's line for the same fault, with
// the fix.
func (s *Snapshotter) Init(cfg map[string]string) error {
	k := &checks{s: s, raw: cfg}
	r := &firstFailure{}
	if !k.parse(context.Background(), r) { // within kube.Timeout
		return r.err
	}
	c := k.c
	logging.Apply(s.log, c.LogLevel)
	if s.features[config.EnableCSI] {
		s.log.WithField("driver", c.Driver).Warn("Velero runs with --features=EnableCSI: it backs up CSI volumes through " +
			"VolumeSnapshot objects and will not call this VolumeSnapshotter for them; turn EnableCSI off to use example.io/csi")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.DialTimeout)
	defer cancel()
	if !k.socket(ctx, r, false) || !k.connect(ctx, r) {
		return r.err
	}
	if !k.probe(ctx, r) {
		// Through a relay, a TLS fault shows as UNAVAILABLE: the
		// handshake check names it, as doctor does.
		if c.Network() {
			tr := &firstFailure{}
			if !k.handshake(context.Background(), tr) {
				return tr.err
			}
		}
		return r.err
	}
	if !k.identity(ctx, r) || !k.capabilities(ctx, r) || !k.secret(ctx, r) {
		return r.err
	}
	s.mu.Lock()
	s.cfg, s.csi, s.csiCreds = c, k.cl, k.creds
	s.canList = k.caps[csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS]
	s.mu.Unlock()
	k.pc.Log(s.log, c.Fields(), "CSI snapshotter settings (value and where it came from)")
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

// retriesTimeout bounds a call that is retried on transient answers:
// every attempt may take operationTimeout, with the backoff in between.
func (s *Snapshotter) retriesTimeout() time.Duration {
	return s.cfg.OperationTimeout * time.Duration(s.cfg.MaxRetries+2)
}

// snapshotSize asks the driver the snapshot's size, 0 when it cannot say.
func (s *Snapshotter) snapshotSize(ctx context.Context, id string) int64 {
	if !s.canList {
		return 0
	}
	var resp *csi.ListSnapshotsResponse
	err := s.call(ctx, "list snapshot "+id, false, func(ctx context.Context) (err error) {
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
	ctx, cancel := context.WithTimeout(context.Background(), s.retriesTimeout())
	defer cancel()
	err := s.call(ctx, "delete snapshot "+snapshotID, false, func(ctx context.Context) error {
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
