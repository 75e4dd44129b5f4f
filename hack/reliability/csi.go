package main

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// csiRelayRestarts takes snapshots through Velero's host and the
// csi-relay while the relay is stopped in the middle of CreateSnapshot
// (the call cut) and started again, or while the driver's answer is lost
// after it made the snapshot: the plugin's retry must find the same
// snapshot, and after the backups are deleted no snapshot may be left.
// (The GCE PD driver keeps its fake cloud in memory, so killing the
// driver would lose its disks: the relay in front of it is what restarts.)
func csiRelayRestarts(s *testenv.Script, rounds int) *row {
	r := &row{name: fmt.Sprintf("%d CSI snapshots, relay restarted or answer lost", rounds)}
	d := testenv.StartGCEPDDriver(s)
	certs := testenv.NewRelayCerts(s)
	faults := &testenv.CSIFaults{}
	rl := testenv.StartRelay(s, d.Endpoint, certs, faults.Option())
	h := testenv.StartHost(s, testenv.PluginDir(s), logrus.InfoLevel, "--log-level=info")
	vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
	if err != nil {
		s.Fatal(err)
	}
	if err := vs.Init(map[string]string{"driver": d.Name, "endpoint": rl.Endpoint, "tlsCertFile": certs.ClientCert,
		"tlsKeyFile": certs.ClientKey, "tlsCAFile": certs.CAFile, "tlsServerName": testenv.RelayServerName,
		"operationTimeout": "10s", "snapshotReadyTimeout": "2m"}); err != nil {
		s.Fatal(err)
	}
	const create = "/csi.v1.Controller/CreateSnapshot"
	ctx := context.Background()
	var ids []string
	for i := 0; i < rounds; i++ {
		vol := d.CreateVolume(s, fmt.Sprintf("rel-src-%d", i), 10<<30)
		pv := testenv.Unstructured(s, testenv.CSIPV("pv", d.Name, vol.GetVolumeId(), "10Gi", "Filesystem"))
		if _, err := vs.GetVolumeID(pv); err != nil {
			s.Fatal(err)
		}
		calls := faults.Calls(create)
		if i%2 == 0 {
			faults.Add(create, testenv.HoldAnswer)
		} else {
			faults.Add(create, testenv.LoseAnswer)
		}
		r.attempted++
		type result struct {
			id  string
			err error
		}
		done := make(chan result, 1)
		go func() {
			id, err := vs.CreateSnapshot(vol.GetVolumeId(), "", map[string]string{"velero.io/backup": fmt.Sprintf("rel-%d", i), "velero.io/pv": "pv"})
			done <- result{id, err}
		}()
		if i%2 == 0 {
			for faults.Calls(create) == calls {
				time.Sleep(10 * time.Millisecond)
			}
			rl.Restart(s) // a held call is cut after testenv.RelayDrain
		}
		var res result
		if !within(func() { res = <-done }) {
			r.hung++
			continue
		}
		snaps := snapshotsOf(s, d, vol.GetVolumeId())
		switch {
		case res.err != nil && len(snaps) == 0:
			r.failedCleanly++
		case res.err == nil && len(snaps) == 1 && snaps[0] == res.id:
			r.verified++
			r.retriedVerified++ // every round met a fault
			ids = append(ids, res.id)
		default:
			r.corrupt++ // a duplicate, or a snapshot other than the one returned
		}
	}
	for _, id := range ids { // the backups' deletion
		if err := vs.DeleteSnapshot(id); err != nil {
			s.Fatalf("delete snapshot %s: %v", id, err)
		}
	}
	all, err := d.Control.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
	if err != nil {
		s.Fatal(err)
	}
	r.orphanSnapshots = len(all.GetEntries())
	r.note = "half the creates had the relay stopped mid-call (the call cut) and started again, half lost the driver's answer after it made the snapshot"
	return r
}

// snapshotsOf lists the driver's snapshots of volume (the fake GCE
// ignores ListSnapshots' source filter, so it is applied here).
func snapshotsOf(s *testenv.Script, d *testenv.CSIDriver, volume string) []string {
	all, err := d.Control.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{})
	if err != nil {
		s.Fatal(err)
	}
	var ids []string
	for _, e := range all.GetEntries() {
		if e.GetSnapshot().GetSourceVolumeId() == volume {
			ids = append(ids, e.GetSnapshot().GetSnapshotId())
		}
	}
	return ids
}
