package snapshotter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/logging"
)

// DiagnoseOptions are what doctor adds to a VSL's own config.
type DiagnoseOptions struct {
	// TestVolumeSize > 0: create a volume this big, snapshot it, restore
	// it and delete all three, reporting each step's time.
	TestVolumeSize int64
}

// Diagnose runs the VSL's checks in order, each a line of r: Init's
// checks, and those Init leaves out (the TCP dial and TLS of a relay,
// ListSnapshots). A check that later ones need stops the run when it
// fails. Only with opts.TestVolumeSize does it create anything, and it
// deletes all it created.
func Diagnose(ctx context.Context, log logrus.FieldLogger, k kube.Reader, cfg map[string]string, opts DiagnoseOptions, r finding.Reporter) {
	d := &checks{s: New(log, config.Features{}, k), raw: cfg}
	if !d.parse(ctx, r) {
		skipped(r)
		return
	}
	logging.Apply(d.s.log, d.c.LogLevel)
	ctx, cancel := context.WithTimeout(ctx, d.c.DialTimeout)
	defer cancel()
	if !d.socket(ctx, r, true) || !d.connect(ctx, r) || (d.c.Network() && !d.handshake(ctx, r)) ||
		!d.probe(ctx, r) || !d.identity(ctx, r) || !d.capabilities(ctx, r) || !d.secret(ctx, r) {
		skipped(r)
		return
	}
	d.list(ctx, r)
	d.pluginCapabilities(ctx)
	d.s.cur = d.session()
	d.topologyLines(ctx, r)
	if opts.TestVolumeSize > 0 {
		d.testVolume(ctx, opts.TestVolumeSize, r)
		d.testTargets(ctx, opts.TestVolumeSize, r)
	}
}

func skipped(r finding.Reporter) {
	r.Note("later checks", "skipped: they need the one that failed")
}

// list asks for one snapshot, as a restore does for a snapshot's size.
func (k *checks) list(ctx context.Context, r finding.Reporter) {
	if !k.caps[csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS] {
		r.Note("ListSnapshots", "the driver does not advertise LIST_SNAPSHOTS: restored volumes take their size from the PV")
		return
	}
	check(r, "ListSnapshots", func() (string, error) {
		resp, err := k.cl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: 1, Secrets: k.creds})
		if err != nil {
			return "", finding.Fail("", fmt.Errorf("list snapshots: %w", err),
				"the driver advertises LIST_SNAPSHOTS but refuses it: restored volumes take their size from the PV; check the CSI secrets (snapshotterSecretName) and the driver's log")
		}
		return fmt.Sprintf("answered (%d entries on a page of 1)", len(resp.GetEntries())), nil
	})
}

// testVolume creates a volume, snapshots it with CreateSnapshot, restores
// it with CreateVolumeFromSnapshot (the plugin's own methods) and deletes
// all three; whatever was made is deleted even when a later step fails.
func (k *checks) testVolume(ctx context.Context, size int64, r finding.Reporter) {
	s, ss, c := k.s, k.s.cur, k.c
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	name := "velero-doctor-" + hex.EncodeToString(nonce)
	var volID, snapID, restoredID string
	defer func() {
		var left []string
		del := func(what, id string, fn func(ctx context.Context) error) {
			if id == "" {
				return
			}
			if !check(r, fmt.Sprintf("delete %s %s", what, id), func() (string, error) {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ss.retriesTimeout()) // what doctor made goes, even after ^C
				defer cancel()
				return "deleted", fn(ctx)
			}) {
				left = append(left, what+" "+id)
			}
		}
		del("restored volume", restoredID, func(ctx context.Context) error { return ss.deleteVolume(ctx, restoredID) })
		del("snapshot", snapID, func(ctx context.Context) error { return ss.deleteSnapshot(ctx, snapID) })
		del("test volume", volID, func(ctx context.Context) error { return ss.deleteVolume(ctx, volID) })
		switch {
		case len(left) > 0:
			r.Note("test volume cleanup", "left behind, delete by hand: "+strings.Join(left, ", "))
		case volID != "":
			r.Note("test volume cleanup", "nothing is left of "+name)
		}
	}()
	if !check(r, fmt.Sprintf("create test volume %s of %d bytes", name, size), func() (string, error) {
		ctx, cancel := context.WithTimeout(ctx, ss.retriesTimeout())
		defer cancel()
		vi := volumeInfo{Capacity: size, FSType: "ext4"}
		caps, err := vi.capabilities()
		if err != nil {
			return "", err
		}
		req := &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
			VolumeCapabilities: caps, Parameters: c.RestoreParameters, Secrets: k.creds}
		create := byName(ss, "create volume "+name, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
			return ss.csi.CreateVolume(ctx, req)
		})
		resp, err := create(ctx)
		if err != nil {
			err = ss.cleanupVolume(ctx, s.log, create, err, name)
			return "", finding.Fail("", err, "check restoreParameters (they are the CreateVolume parameters), snapshotterSecretName and the driver's log")
		}
		volID = resp.GetVolume().GetVolumeId()
		vi.Topology = topologySegments(resp.GetVolume().GetAccessibleTopology())
		s.mu.Lock()
		s.volumes[volID] = vi
		s.mu.Unlock()
		return "volume " + volID, nil
	}) {
		return
	}
	if !check(r, "snapshot the test volume and wait until ready", func() (string, error) {
		var err error
		snapID, err = s.CreateSnapshot(volID, "", map[string]string{tagBackup: name, tagPV: name})
		if err != nil {
			return "", finding.Fail("", err, "check parameters.* (the CreateSnapshot parameters), snapshotReadyTimeout and the driver's log")
		}
		return "snapshot " + snapID + " ready", nil
	}) {
		return
	}
	check(r, "restore a volume from the snapshot", func() (string, error) {
		var err error
		s.mu.Lock()
		vt := s.volumes[volID].encode()
		s.mu.Unlock()
		restoredID, err = s.CreateVolumeFromSnapshot(snapID, vt, "", nil)
		if err != nil {
			return "", finding.Fail("", err, "check restoreParameters and the driver's log")
		}
		return "volume " + restoredID, nil
	})
}
