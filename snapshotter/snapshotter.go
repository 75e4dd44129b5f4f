// Package snapshotter is the example.io/csi VolumeSnapshotter: PV
// snapshots taken, restored and deleted by calling a CSI driver's
// controller service directly, with no snapshot CRDs in the cluster.
package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

// Snapshotter implements Velero's VolumeSnapshotter over CSI gRPC. Velero
// calls one instance from many goroutines (parallel item blocks): what
// Init sets up is one immutable session, and the maps below are locked.
type Snapshotter struct {
	log      logrus.FieldLogger
	features config.Features
	kube     kube.Reader

	mu          sync.Mutex
	cur         *session
	volumes     map[string]volumeInfo     // by volume handle, from GetVolumeID
	restored    map[string]restoredVolume // by new volume ID, from CreateVolumeFromSnapshot
	zoneKey     string                    // the driver's zone key, once seen
	zoneKeyFrom string                    // where it was seen
}

// restoredVolume is what CreateVolumeFromSnapshot learned that SetVolumeID
// writes into the PV.
type restoredVolume struct {
	context    map[string]string
	accessible []*csi.Topology
	place      placement
	tmap       config.TopologyMap
}

var _ veleroplugin.VolumeSnapshotter = (*Snapshotter)(nil)

// New returns a Snapshotter that logs through log, knows Velero's
// --features, and reads its ConfigMap and CSI secrets through k.
func New(log logrus.FieldLogger, features config.Features, k kube.Reader) *Snapshotter {
	return &Snapshotter{log: log, features: features, kube: k,
		volumes: map[string]volumeInfo{}, restored: map[string]restoredVolume{}}
}

// Init parses the VSL config, connects to the driver (reusing the
// process's connection to that endpoint) and checks that it is the named
// driver with snapshot and volume support, all within dialTimeout. Its
// error is a *finding.Failure: the doctor's line for the same fault, with
// the fix.
func (s *Snapshotter) Init(cfg map[string]string) error {
	k := &checks{s: s, raw: cfg}
	r := &firstFailure{}
	root := context.Background() // Velero's call carries no context
	// parse reads the plugin ConfigMap and Secrets within kube.Timeout.
	if !k.parse(root, r) {
		return r.err
	}
	c := k.c
	logging.Apply(s.log, c.LogLevel)
	if s.features[config.EnableCSI] {
		s.log.WithField("driver", c.Driver).Warn("Velero runs with --features=EnableCSI: it backs up CSI volumes through " +
			"VolumeSnapshot objects and will not call this VolumeSnapshotter for them; turn EnableCSI off to use example.io/csi")
	}
	ctx, cancel := context.WithTimeout(root, c.DialTimeout)
	defer cancel()
	if !k.socket(ctx, r, false) || !k.connect(ctx, r) {
		return r.err
	}
	if !k.probe(ctx, r) {
		// Through a relay, a TLS fault shows as UNAVAILABLE: the
		// handshake check names it, as doctor does.
		if c.Network() {
			tr := &firstFailure{}
			if !k.handshake(root, tr) { // its own time: the probe may have spent ctx's
				return tr.err
			}
		}
		return r.err
	}
	if !k.identity(ctx, r) || !k.capabilities(ctx, r) || !k.secret(ctx, r) {
		return r.err
	}
	k.pluginCapabilities(ctx)
	s.mu.Lock()
	s.cur = k.session()
	s.mu.Unlock()
	k.pc.Log(s.log, c.Fields(), "CSI snapshotter settings (value and where it came from)")
	return nil
}

// GetVolumeID returns the volume handle of a PV of this driver and "" for
// any other PV. It remembers what a restore will need of the PV.
func (s *Snapshotter) GetVolumeID(pv runtime.Unstructured) (string, error) {
	ss, err := s.session()
	if err != nil {
		return "", err
	}
	var p corev1.PersistentVolume
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(pv.UnstructuredContent(), &p); err != nil {
		return "", fmt.Errorf("read PV: %w", err)
	}
	if p.Spec.CSI == nil || p.Spec.CSI.Driver != ss.cfg.Driver || p.Spec.CSI.VolumeHandle == "" {
		return "", nil
	}
	vi := infoFromPV(&p)
	s.learnZoneKey(vi.Topology, "the node affinity of PV "+p.Name)
	s.mu.Lock()
	s.volumes[p.Spec.CSI.VolumeHandle] = vi
	s.mu.Unlock()
	return p.Spec.CSI.VolumeHandle, nil
}

// session is what the last Init set up.
func (s *Snapshotter) session() (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil, errors.New("the CSI snapshotter was called before Init")
	}
	return s.cur, nil
}

// SetVolumeID points a restored PV at volumeID, with the volume context
// the driver returned when it created that volume, and node affinity on
// the new volume's accessible topology when the driver returned one
// (else the old affinity, moved by topologyMap).
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
	rv, ok := s.restored[volumeID]
	if !ok && s.cur != nil {
		rv.tmap = s.cur.cfg.TopologyMap
	}
	s.mu.Unlock()
	if ok {
		p.Spec.CSI.VolumeAttributes = rv.context
	}
	if a := nodeAffinity(rv.accessible); a != nil {
		p.Spec.NodeAffinity = a
	} else {
		p.Spec.NodeAffinity = mapAffinity(p.Spec.NodeAffinity, rv.tmap, rv.place.zoneKey)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&p)
	if err != nil {
		return nil, fmt.Errorf("write PV %s: %w", p.Name, err)
	}
	out := pv.NewEmptyInstance()
	out.SetUnstructuredContent(m)
	return out, nil
}

// GetVolumeInfo returns, as the volume type Velero stores in the backup,
// what a restore needs of the volume (capacity, mode, fs type, access,
// topology). A PV with no node affinity that Velero found a zone for
// (its topology.kubernetes.io/zone label) keeps that zone. IOPS are not
// a CSI notion: nil.
func (s *Snapshotter) GetVolumeInfo(volumeID, az string) (string, *int64, error) {
	s.mu.Lock()
	vi, ok := s.volumes[volumeID]
	s.mu.Unlock()
	if !ok {
		return "", nil, fmt.Errorf("volume %s was not seen by GetVolumeID in this plugin process", volumeID)
	}
	if len(vi.Topology) == 0 && az != "" {
		vi.Topology = []map[string]string{{corev1.LabelTopologyZone: az}}
	}
	return vi.encode(), nil, nil
}

// snapshotSize asks the driver the snapshot's size, 0 when it cannot say.
func (s *session) snapshotSize(ctx context.Context, id string) int64 {
	if !s.canList {
		return 0
	}
	var resp *csi.ListSnapshotsResponse
	err := s.call(ctx, "list snapshot "+id, false, func(ctx context.Context) (err error) {
		resp, err = s.csi.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: id, Secrets: s.creds})
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
	ss, err := s.session()
	if err != nil {
		return err
	}
	return ss.deleteSnapshot(context.Background(), snapshotID) // Velero's call carries no context
}

// deleteSnapshot deletes snapshotID within retries' time of parent.
func (s *session) deleteSnapshot(parent context.Context, snapshotID string) error {
	ctx, cancel := context.WithTimeout(parent, s.retriesTimeout())
	defer cancel()
	err := s.call(ctx, "delete snapshot "+snapshotID, false, func(ctx context.Context) error {
		_, err := s.csi.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapshotID, Secrets: s.creds})
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
