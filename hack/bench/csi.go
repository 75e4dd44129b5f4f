package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	volumesnapshotter "github.com/vmware-tanzu/velero/pkg/plugin/velero/volumesnapshotter/v1"
	corev1 "k8s.io/api/core/v1"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// benchCSI times CreateSnapshot (until ready) and DeleteSnapshot through
// Velero's plugin host against the same calls made straight to the driver,
// and through the host and the built binary's csi-relay (mutual TLS), so
// the relay's own cost is the difference of the last two.
func benchCSI(s *testenv.Script, rounds int) {
	d := testenv.StartGCEPDDriver(s)
	certs := testenv.NewRelayCerts(s)
	r := testenv.StartRelayProcess(s, d.Endpoint, certs, "") // one info line a call to its log file, as in production: -v cannot go below info
	h := testenv.StartHost(s, testenv.PluginDir(s), logrus.WarnLevel, "--log-level=warning")
	const poll = "1s"
	plugin := func(vsl map[string]string) volumesnapshotter.VolumeSnapshotter {
		vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
		if err != nil {
			s.Fatal(err)
		}
		vsl["driver"], vsl["pollInterval"] = d.Name, poll
		if err := vs.Init(vsl); err != nil {
			s.Fatal(err)
		}
		return vs
	}
	host := plugin(map[string]string{"endpoint": d.Endpoint})
	relayed := plugin(map[string]string{"endpoint": r.Endpoint, "tlsCertFile": certs.ClientCert, "tlsKeyFile": certs.ClientKey,
		"tlsCAFile": certs.CAFile, "tlsServerName": testenv.RelayServerName})
	ctx := context.Background()
	var direct, viaHost, viaRelay [2][]time.Duration // [create, delete]
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
		timePlugin(s, host, vol.GetVolumeId(), d.Name, i, &viaHost)
		timePlugin(s, relayed, vol.GetVolumeId(), d.Name, i, &viaRelay)
	}
	fmt.Printf("\nCSI snapshots on the GCE PD driver (fake GCE), %d rounds, median; pollInterval %s\n", rounds, poll)
	fmt.Printf("%-16s %12s %12s %12s %14s %14s\n", "call", "direct", "via host", "host+relay", "host overhead", "relay adds")
	r10 := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	for i, name := range []string{"CreateSnapshot", "DeleteSnapshot"} {
		a, b, c := medianDur(direct[i]), medianDur(viaHost[i]), medianDur(viaRelay[i])
		fmt.Printf("%-16s %12s %12s %12s %14s %14s\n", name, r10(a), r10(b), r10(c), r10(b-a), r10(c-b))
	}
	fmt.Println("(create includes waiting for ready_to_use; targets: host overhead at most one poll interval and a few ms, the relay at most 2 ms a call)")
}

// timePlugin makes the calls of a backup (GetVolumeID, CreateSnapshot
// until ready) and of a backup deletion, and records their times.
func timePlugin(s *testenv.Script, vs volumesnapshotter.VolumeSnapshotter, volumeID, driver string, i int, into *[2][]time.Duration) {
	pv := testenv.Unstructured(s, testenv.CSIPV("pv", driver, volumeID, "10Gi", corev1.PersistentVolumeFilesystem))
	if _, err := vs.GetVolumeID(pv); err != nil {
		s.Fatal(err)
	}
	start := time.Now()
	id, err := vs.CreateSnapshot(volumeID, "", map[string]string{"velero.io/backup": fmt.Sprintf("b-%d-%d", time.Now().UnixNano(), i), "velero.io/pv": "pv"})
	if err != nil {
		s.Fatalf("plugin create snapshot: %v", err)
	}
	into[0] = append(into[0], time.Since(start))
	start = time.Now()
	if err := vs.DeleteSnapshot(id); err != nil {
		s.Fatalf("plugin delete snapshot: %v", err)
	}
	into[1] = append(into[1], time.Since(start))
}

func medianDur(v []time.Duration) time.Duration {
	c := append([]time.Duration(nil), v...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[len(c)/2]
}
