package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// benchCSI times CreateSnapshot (until ready) and DeleteSnapshot through
// Velero's plugin host against the same calls made straight to the driver.
func benchCSI(s *testenv.Script, rounds int) {
	d := testenv.StartGCEPDDriver(s)
	h := testenv.StartHost(s, testenv.PluginDir(s), logrus.WarnLevel, "--log-level=warning")
	vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
	if err != nil {
		s.Fatal(err)
	}
	const poll = "1s"
	if err := vs.Init(map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": poll}); err != nil {
		s.Fatal(err)
	}
	ctx := context.Background()
	var direct, host [2][]time.Duration // [create, delete]
	for i := 0; i < rounds; i++ {
		vol := d.CreateVolume(s, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), 10<<30)

		// Direct: CreateSnapshot until ready (re-asking, as a client must), then delete.
		start := time.Now()
		name := fmt.Sprintf("direct-%d-%d", time.Now().UnixNano(), i)
		var id string
		for {
			resp, err := d.Control.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: vol.GetVolumeId()})
			if err != nil {
				s.Fatalf("direct create snapshot: %v", err)
			}
			id = resp.GetSnapshot().GetSnapshotId()
			if resp.GetSnapshot().GetReadyToUse() {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		direct[0] = append(direct[0], time.Since(start))
		start = time.Now()
		if _, err := d.Control.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
			s.Fatalf("direct delete snapshot: %v", err)
		}
		direct[1] = append(direct[1], time.Since(start))

		// Through Velero's host, as a backup and a backup deletion call it.
		pv := testenv.Unstructured(s, testenv.CSIPV("pv", d.Name, vol.GetVolumeId(), "10Gi", corev1.PersistentVolumeFilesystem))
		if _, err := vs.GetVolumeID(pv); err != nil {
			s.Fatal(err)
		}
		start = time.Now()
		id, err = vs.CreateSnapshot(vol.GetVolumeId(), "", map[string]string{"velero.io/backup": fmt.Sprintf("b-%d-%d", time.Now().UnixNano(), i), "velero.io/pv": "pv"})
		if err != nil {
			s.Fatalf("plugin create snapshot: %v", err)
		}
		host[0] = append(host[0], time.Since(start))
		start = time.Now()
		if err := vs.DeleteSnapshot(id); err != nil {
			s.Fatalf("plugin delete snapshot: %v", err)
		}
		host[1] = append(host[1], time.Since(start))
	}
	fmt.Printf("\nCSI snapshots on the GCE PD driver (fake GCE), %d rounds, median; pollInterval %s\n", rounds, poll)
	fmt.Printf("%-16s %14s %14s %14s\n", "call", "direct", "via host", "overhead")
	for i, name := range []string{"CreateSnapshot", "DeleteSnapshot"} {
		a, b := medianDur(direct[i]), medianDur(host[i])
		fmt.Printf("%-16s %14s %14s %14s\n", name, a.Round(10*time.Microsecond), b.Round(10*time.Microsecond), (b - a).Round(10*time.Microsecond))
	}
	fmt.Println("(create includes waiting for ready_to_use; target: overhead at most one poll interval and a few ms)")
}

func medianDur(v []time.Duration) time.Duration {
	c := append([]time.Duration(nil), v...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[len(c)/2]
}
