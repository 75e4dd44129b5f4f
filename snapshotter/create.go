package snapshotter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"example.io/velero-plugin-s3csi/internal/backoff"
)

// Creates are idempotent by name: the snapshot's name is fixed by the
// backup and the PV, a restored volume's by the snapshot and a nonce drawn
// once per call. A create that ends without an answer (the deadline, a
// relay or driver restart) may still be carried out by the driver, so it
// is asked again by the same name, and when it finally fails whatever the
// driver made under that name is found the same way and deleted: nothing
// is left that no backup or PV refers to.

// byName wraps a create RPC in s.call as a create by name: asked again
// after an answer that may mean "still in progress", for as long as ctx
// lasts.
func byName[R any](s *session, what string, rpc func(context.Context) (R, error)) func(context.Context) (R, error) {
	return func(ctx context.Context) (R, error) {
		var resp R
		err := s.call(ctx, what, true, func(ctx context.Context) (err error) {
			resp, err = rpc(ctx)
			return err
		})
		return resp, err
	}
}

// CreateSnapshot snapshots volumeID and waits, up to snapshotReadyTimeout
// in all, until the driver reports the snapshot ready to use. It is safe
// to call concurrently, for the same volume too.
func (s *Snapshotter) CreateSnapshot(volumeID, _ string, tags map[string]string) (string, error) {
	if tags[tagBackup] == "" || tags[tagPV] == "" {
		return "", fmt.Errorf("snapshot of %s: tags %s and %s are required", volumeID, tagBackup, tagPV)
	}
	ss, err := s.session()
	if err != nil {
		return "", err
	}
	ctx := context.Background() // Velero's call carries no context
	return ss.createSnapshot(ctx, volumeID, snapshotName(tags[tagBackup], tags[tagPV], volumeID), tags[tagBackup])
}

// createSnapshot makes the snapshot within snapshotReadyTimeout of
// parent; a cleanup after a failure gets its own time, from parent.
func (s *session) createSnapshot(parent context.Context, volumeID, name, backup string) (string, error) {
	log := s.log.WithFields(logrus.Fields{"volumeID": volumeID, "snapshotName": name, "backup": backup})
	ctx, cancel := context.WithTimeout(parent, s.cfg.SnapshotReadyTimeout)
	defer cancel()
	req := &csi.CreateSnapshotRequest{SourceVolumeId: volumeID, Name: name, Secrets: s.creds, Parameters: s.cfg.SnapshotParameters}
	what := "create snapshot " + name + " of " + volumeID
	create := byName(s, what, func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
		return s.csi.CreateSnapshot(ctx, req)
	})
	start := time.Now()
	// A driver often answers "not ready" once, then is ready.
	poll := backoff.Policy{Initial: 25 * time.Millisecond, Max: s.cfg.PollInterval, Multiplier: 2, Jitter: 0.2}.Start()
	notReady := func(id string) error {
		return fmt.Errorf("snapshot %s of volume %s not ready after %s (snapshotReadyTimeout)", id, volumeID, s.cfg.SnapshotReadyTimeout)
	}
	seen := "" // the ID of a snapshot the driver said is not ready yet
	for {
		resp, err := create(ctx)
		switch {
		case status.Code(err) == codes.AlreadyExists:
			return "", fmt.Errorf("%w: a snapshot named %s already exists for another source volume", err, name)
		case err != nil:
			if seen != "" && ctx.Err() != nil { // the time ran out during a poll
				err = fmt.Errorf("%w: %w", notReady(seen), err)
			}
			return "", s.cleanupSnapshot(parent, log, create, err, volumeID, name)
		}
		snap := resp.GetSnapshot()
		id := snap.GetSnapshotId()
		if id == "" {
			return "", fmt.Errorf("%s: the driver returned no snapshot ID", what)
		}
		if snap.GetReadyToUse() {
			log.WithFields(logrus.Fields{"snapshotID": id, "seconds": fmt.Sprintf("%.1f", time.Since(start).Seconds())}).Info("CSI snapshot ready")
			return id, nil
		}
		log.WithField("snapshotID", id).Debug("snapshot not ready yet")
		seen = id
		if !poll.Wait(ctx) {
			return "", s.cleanupSnapshot(parent, log, create, notReady(id), volumeID, name)
		}
	}
}

// cleanupSnapshot deletes what a failed CreateSnapshot may have left: it
// asks for the snapshot by name once more (the driver answers with the one
// it has, or makes it) and deletes that. Nothing to do when the driver
// refused the request. It returns the error CreateSnapshot returns: the
// cause, or a configuration error when the driver failed both times the
// same way and holds nothing by that name. It is not cut short when
// parent ends: the asking again and the delete each get retries' time.
func (s *session) cleanupSnapshot(parent context.Context, log logrus.FieldLogger, create func(context.Context) (*csi.CreateSnapshotResponse, error), cause error, volumeID, name string) error {
	if refused(cause) {
		return cause
	}
	parent = context.WithoutCancel(parent)
	ctx, cancel := context.WithTimeout(parent, s.retriesTimeout())
	defer cancel()
	resp, err := create(ctx)
	id := resp.GetSnapshot().GetSnapshotId()
	if err == nil && id != "" {
		err = s.deleteSnapshot(parent, id)
		if err == nil {
			log.WithError(cause).WithField("snapshotID", id).Warn("CSI snapshot of a failed backup deleted")
			return cause
		}
	}
	if sameFault(cause, err) && !s.holdsSnapshot(ctx, volumeID, name) {
		log.WithError(err).Debug("the same-name retry failed the same way and the driver holds nothing by that name: nothing to clean up")
		return s.configError("CreateSnapshot", "snapshot "+name+" of volume "+volumeID, cause, "parameters")
	}
	log.WithError(err).WithField("cause", cause.Error()).Error("a failed backup may have left a CSI snapshot by this name on the driver; delete it by hand")
	return cause
}

// CreateVolumeFromSnapshot makes a new volume from snapshotID with what
// the backup recorded in volumeType, in the PV's topology moved by
// topologyMap when the driver takes accessibility requirements, and
// returns its ID. The whole call, retries included, takes at most
// snapshotReadyTimeout. It is safe to call concurrently.
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
	ss, err := s.session()
	if err != nil {
		return "", err
	}
	parent := context.Background() // Velero's call carries no context
	ctx, cancel := context.WithTimeout(parent, ss.cfg.SnapshotReadyTimeout)
	defer cancel()
	size := max(vi.Capacity, ss.snapshotSize(ctx, snapshotID))
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	name := volumeName(snapshotID, hex.EncodeToString(nonce))
	log := ss.log.WithFields(logrus.Fields{"snapshotID": snapshotID, "volumeName": name})
	req := &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: caps,
		Parameters:         ss.cfg.RestoreParameters,
		Secrets:            ss.creds,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapshotID}}},
	}
	var place placement
	if ss.topology {
		place = s.place(ctx, ss, vi.Topology)
		req.AccessibilityRequirements = place.requirement()
		if len(place.unkeyed) > 0 {
			log.WithField("zone", strings.Join(place.unkeyed, ", ")).Warn("the PV names its zone only under " + inTreeZoneKeys[0] +
				" and the driver's zone key is not known (no topologyZoneKey, no volume or PV of the driver seen, no NodeGetInfo): " +
				"that zone is not asked for; set topologyZoneKey in the VSL to the driver's key (for example topology.gke.io/zone)")
		}
	}
	create := byName(ss, "create volume "+name+" from snapshot "+snapshotID, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return ss.csi.CreateVolume(ctx, req)
	})
	resp, err := create(ctx)
	if err != nil {
		return "", place.explain(ss.cleanupVolume(parent, log, create, err, name))
	}
	id := resp.GetVolume().GetVolumeId()
	if id == "" {
		return "", fmt.Errorf("create volume %s from snapshot %s: the driver returned no volume ID", name, snapshotID)
	}
	source := resp.GetVolume().GetContentSource().GetSnapshot().GetSnapshotId()
	if source != "" && source != snapshotID {
		return "", fmt.Errorf("create volume %s from snapshot %s: the driver made volume %s from snapshot %s", name, snapshotID, id, source)
	}
	// As external-provisioner does, the accessible topology counts only
	// from a driver that advertises topology.
	var accessible []*csi.Topology
	if ss.topology {
		accessible = resp.GetVolume().GetAccessibleTopology()
	}
	got := topologySegments(accessible)
	s.learnZoneKey(got, "the accessible topology of volume "+id)
	s.mu.Lock()
	s.restored[id] = restoredVolume{context: resp.GetVolume().GetVolumeContext(), accessible: accessible, place: place, tmap: ss.cfg.TopologyMap}
	s.mu.Unlock()
	f := logrus.Fields{"volumeID": id, "bytes": fmt.Sprint(resp.GetVolume().GetCapacityBytes()), "driverContentSource": source}
	if req.AccessibilityRequirements != nil {
		f["requestedTopology"] = segmentsText(place.segments)
	}
	if len(place.moved) > 0 {
		f["topologyMap"] = strings.Join(place.moved, "; ")
	}
	if place.zoneKey != "" {
		f["zoneKey"] = place.zoneKey + " (" + place.keyFrom + ")"
	}
	if len(got) > 0 {
		f["accessibleTopology"] = segmentsText(got)
	}
	log.WithFields(f).Info("volume restored from CSI snapshot")
	return id, nil
}

// explain adds to a failed restore where it was asked to go and why.
func (p placement) explain(err error) error {
	if len(p.segments) == 0 {
		return err
	}
	var why []string
	if p.zoneKey != "" {
		why = append(why, fmt.Sprintf("the PV's zone moved under the driver's zone key %s (from %s)", p.zoneKey, p.keyFrom))
	}
	if len(p.moved) > 0 {
		why = append(why, "topologyMap moved "+strings.Join(p.moved, "; "))
	}
	msg := "asked for topology " + segmentsText(p.segments)
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

// cleanupVolume deletes what a failed restore may have made, found by its
// name as cleanupSnapshot finds a snapshot, and returns the error the
// restore returns. As cleanupSnapshot, it is not cut short when parent
// ends, and the asking again and the delete each get retries' time.
func (s *session) cleanupVolume(parent context.Context, log logrus.FieldLogger, create func(context.Context) (*csi.CreateVolumeResponse, error), cause error, name string) error {
	if refused(cause) {
		return cause
	}
	parent = context.WithoutCancel(parent)
	ctx, cancel := context.WithTimeout(parent, s.retriesTimeout())
	defer cancel()
	resp, err := create(ctx)
	id := resp.GetVolume().GetVolumeId()
	if err == nil && id != "" {
		err = s.deleteVolumeWithin(parent, id)
		if err == nil {
			log.WithError(cause).WithField("volumeID", id).Warn("volume of a failed restore deleted")
			return cause
		}
	}
	if sameFault(cause, err) {
		log.WithError(err).Debug("the same-name retry failed the same way: nothing to clean up")
		return s.configError("CreateVolume", "volume "+name, cause, "restoreParameters")
	}
	log.WithError(err).WithField("cause", cause.Error()).Error("a failed restore may have left a volume by this name on the driver; delete it by hand")
	return cause
}

// deleteVolumeWithin deletes volume id within retries' time of parent.
func (s *session) deleteVolumeWithin(parent context.Context, id string) error {
	ctx, cancel := context.WithTimeout(parent, s.retriesTimeout())
	defer cancel()
	return s.deleteVolume(ctx, id)
}

// deleteVolume is idempotent: a volume the driver does not know is gone.
func (s *session) deleteVolume(ctx context.Context, id string) error {
	return s.call(ctx, "delete volume "+id, false, func(ctx context.Context) error {
		_, err := s.csi.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: s.creds})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		return err
	})
}
