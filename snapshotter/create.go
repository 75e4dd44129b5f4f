package snapshotter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
func byName[R any](s *Snapshotter, what string, rpc func(context.Context) (R, error)) func(context.Context) (R, error) {
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
// in all, until the driver reports the snapshot ready to use.
func (s *Snapshotter) CreateSnapshot(volumeID, _ string, tags map[string]string) (string, error) {
	if tags[tagBackup] == "" || tags[tagPV] == "" {
		return "", fmt.Errorf("snapshot of %s: tags %s and %s are required", volumeID, tagBackup, tagPV)
	}
	name := snapshotName(tags[tagBackup], tags[tagPV], volumeID)
	log := s.log.WithFields(logrus.Fields{"volumeID": volumeID, "snapshotName": name, "backup": tags[tagBackup]})
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SnapshotReadyTimeout)
	defer cancel()
	req := &csi.CreateSnapshotRequest{SourceVolumeId: volumeID, Name: name, Secrets: s.csiCreds, Parameters: s.cfg.SnapshotParameters}
	create := byName(s, "create snapshot "+name+" of "+volumeID, func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
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
			s.cleanupSnapshot(log, create, err)
			return "", err
		}
		snap := resp.GetSnapshot()
		id := snap.GetSnapshotId()
		if id == "" {
			return "", fmt.Errorf("create snapshot %s of %s: the driver returned no snapshot ID", name, volumeID)
		}
		if snap.GetReadyToUse() {
			log.WithFields(logrus.Fields{"snapshotID": id, "seconds": fmt.Sprintf("%.1f", time.Since(start).Seconds())}).Info("CSI snapshot ready")
			return id, nil
		}
		log.WithField("snapshotID", id).Debug("snapshot not ready yet")
		seen = id
		if !poll.Wait(ctx) {
			err := notReady(id)
			s.cleanupSnapshot(log, create, err)
			return "", err
		}
	}
}

// cleanupSnapshot deletes what a failed CreateSnapshot may have left: it
// asks for the snapshot by name once more (the driver answers with the one
// it has, or makes it) and deletes that. Nothing to do when the driver
// refused the request.
func (s *Snapshotter) cleanupSnapshot(log logrus.FieldLogger, create func(context.Context) (*csi.CreateSnapshotResponse, error), cause error) {
	if refused(cause) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.retriesTimeout())
	defer cancel()
	resp, err := create(ctx)
	id := resp.GetSnapshot().GetSnapshotId()
	if err == nil && id != "" {
		err = s.DeleteSnapshot(id)
	}
	if err != nil {
		log.WithError(err).WithField("cause", cause.Error()).Error("a failed backup may have left a CSI snapshot by this name on the driver; delete it by hand")
		return
	}
	log.WithError(cause).WithField("snapshotID", id).Warn("CSI snapshot of a failed backup deleted")
}

// CreateVolumeFromSnapshot makes a new volume from snapshotID with what
// the backup recorded in volumeType, and returns its ID. The whole call,
// retries included, takes at most snapshotReadyTimeout.
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
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SnapshotReadyTimeout)
	defer cancel()
	size := max(vi.Capacity, s.snapshotSize(ctx, snapshotID))
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	name := volumeName(snapshotID, hex.EncodeToString(nonce))
	log := s.log.WithFields(logrus.Fields{"snapshotID": snapshotID, "volumeName": name})
	req := &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: caps,
		Parameters:         s.cfg.RestoreParameters,
		Secrets:            s.csiCreds,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapshotID}}},
	}
	create := byName(s, "create volume "+name+" from snapshot "+snapshotID, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return s.csi.CreateVolume(ctx, req)
	})
	resp, err := create(ctx)
	if err != nil {
		s.cleanupVolume(log, create, err)
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
	log.WithFields(logrus.Fields{"volumeID": id, "bytes": fmt.Sprint(resp.GetVolume().GetCapacityBytes()),
		"driverContentSource": source}).Info("volume restored from CSI snapshot")
	return id, nil
}

// cleanupVolume deletes what a failed restore may have made, found by its
// name as cleanupSnapshot finds a snapshot.
func (s *Snapshotter) cleanupVolume(log logrus.FieldLogger, create func(context.Context) (*csi.CreateVolumeResponse, error), cause error) {
	if refused(cause) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.retriesTimeout())
	defer cancel()
	resp, err := create(ctx)
	id := resp.GetVolume().GetVolumeId()
	if err == nil && id != "" {
		err = s.call(ctx, "delete volume "+id, false, func(ctx context.Context) error {
			_, err := s.csi.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: s.csiCreds})
			if status.Code(err) == codes.NotFound {
				return nil
			}
			return err
		})
	}
	if err != nil {
		log.WithError(err).WithField("cause", cause.Error()).Error("a failed restore may have left a volume by this name on the driver; delete it by hand")
		return
	}
	log.WithError(cause).WithField("volumeID", id).Warn("volume of a failed restore deleted")
}
