package snapshotter_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	volumesnapshotter "github.com/vmware-tanzu/velero/pkg/plugin/velero/volumesnapshotter/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// TestParallelSnapshots: Velero 1.18 backs up item blocks in parallel, so
// one plugin process gets concurrent calls, each after its own Init. 16
// CreateSnapshot calls at once on 8 volumes in two zones (each volume in
// two backups at once), then 16 restores and 32 deletes (each snapshot
// twice) at once, every result checked with the driver. Through Velero's
// host the plugin is built with the race detector and stops at the first
// data race; in process, `go test -race` watches the same code.
func TestParallelSnapshots(t *testing.T) {
	t.Setenv("GORACE", testenv.RaceEnv)
	d := testenv.StartGCEPDDriver(t, testenv.WithZone(driverZone))
	for _, path := range []string{"direct", "velero-host"} {
		t.Run(path, func(t *testing.T) {
			vsl := map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms"}
			var get func() (volumesnapshotter.VolumeSnapshotter, error)
			var h *testenv.Host
			if path == "direct" {
				vs := snapshotter.New(testenv.NewLogCapture(logrus.InfoLevel).Logger, config.Features{}, kube.New())
				get = func() (volumesnapshotter.VolumeSnapshotter, error) { return vs, nil }
			} else {
				h = testenv.StartHost(t, testenv.RacePluginDir(t), logrus.DebugLevel, "--log-level=info")
				// Runs after a failed require too: a plugin that stopped at a data
				// race fails the calls in flight with EOF; its report is in the log.
				t.Cleanup(func() {
					if _, report, found := strings.Cut(h.Logs.Text(), "WARNING: DATA RACE"); found {
						t.Errorf("the race-built plugin found a data race:\n%s", report[:min(len(report), 6000)])
					}
				})
				get = func() (volumesnapshotter.VolumeSnapshotter, error) {
					return h.Manager.GetVolumeSnapshotter("example.io/csi")
				}
			}
			runParallel(t, d, get, vsl, path)
		})
	}
}

func runParallel(t *testing.T, d *testenv.CSIDriver, get func() (volumesnapshotter.VolumeSnapshotter, error), vsl map[string]string, tag string) {
	// initialised is the snapshotter of one Velero call, after its Init.
	initialised := func() (volumesnapshotter.VolumeSnapshotter, error) {
		vs, err := get()
		if err != nil {
			return nil, err
		}
		return vs, vs.Init(vsl)
	}
	type volume struct {
		id, zone string
		pv       *unstructured.Unstructured
	}
	var vols []volume
	for i := range 8 {
		zone := []string{"us-central1-a", "us-central1-b"}[i%2]
		src := d.CreateVolumeIn(t, fmt.Sprintf("par-%s-%d", strings.ToLower(tag[:1]), i), 10<<30, map[string]string{gkeZone: zone})
		p := testenv.WithNodeAffinity(testenv.CSIPV(fmt.Sprintf("pv-%d", i), d.Name, src.GetVolumeId(), "10Gi", corev1.PersistentVolumeFilesystem),
			map[string]string{gkeZone: zone})
		vols = append(vols, volume{src.GetVolumeId(), zone, testenv.Unstructured(t, p)})
	}
	// all runs fn(i) for i in [0, n) at once and returns the errors.
	all := func(n int, fn func(i int) error) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = fn(i)
			})
		}
		close(start)
		wg.Wait()
		return errs
	}

	snaps, types := make([]string, 16), make([]string, 16)
	for i, err := range all(16, func(i int) error {
		v := vols[i%8]
		vs, err := initialised()
		if err != nil {
			return err
		}
		id, err := vs.GetVolumeID(v.pv)
		if err != nil {
			return err
		}
		if types[i], _, err = vs.GetVolumeInfo(id, v.zone); err != nil {
			return err
		}
		snaps[i], err = vs.CreateSnapshot(id, v.zone, map[string]string{"velero.io/backup": fmt.Sprintf("%s-backup-%d", tag, i/8), "velero.io/pv": fmt.Sprintf("pv-%d", i%8)})
		return err
	}) {
		require.NoError(t, err, "snapshot %d", i)
	}
	seen := map[string]bool{}
	for i, id := range snaps {
		assert.False(t, seen[id], "snapshot %d: ID %s returned twice", i, id)
		seen[id] = true
		s := listed(t, d, id)
		require.NotNil(t, s, "snapshot %d (%s) is not on the driver", i, id)
		assert.Equal(t, vols[i%8].id, s.GetSourceVolumeId(), "snapshot %d is of its volume", i)
		assert.True(t, s.GetReadyToUse(), "snapshot %d is ready", i)
	}

	restored := make([]string, 16)
	pvs := make([]*corev1.PersistentVolume, 16)
	for i, err := range all(16, func(i int) error {
		vs, err := initialised()
		if err != nil {
			return err
		}
		id, err := vs.CreateVolumeFromSnapshot(snaps[i], types[i], vols[i%8].zone, nil)
		if err != nil {
			return err
		}
		out, err := vs.SetVolumeID(vols[i%8].pv, id)
		if err != nil {
			return err
		}
		restored[i] = id
		pvs[i] = &corev1.PersistentVolume{}
		return runtime.DefaultUnstructuredConverter.FromUnstructured(out.UnstructuredContent(), pvs[i])
	}) {
		require.NoError(t, err, "restore %d", i)
	}
	onDriver := map[string]bool{}
	resp, err := d.Control.ListVolumes(t.Context(), &csi.ListVolumesRequest{})
	require.NoError(t, err)
	for _, e := range resp.GetEntries() {
		onDriver[e.GetVolume().GetVolumeId()] = true
	}
	seen = map[string]bool{}
	for i, id := range restored {
		assert.False(t, seen[id], "restore %d: volume %s returned twice", i, id)
		seen[id] = true
		assert.True(t, onDriver[id], "restore %d: volume %s is not on the driver", i, id)
		assert.Equal(t, vols[i%8].zone, zoneOf(t, id), "restore %d: zone", i)
		assert.Equal(t, id, pvs[i].Spec.CSI.VolumeHandle)
		assert.Equal(t, []string{gkeZone + " In " + vols[i%8].zone}, affinity(pvs[i]), "restore %d: node affinity", i)
	}

	for i, err := range all(32, func(i int) error {
		vs, err := initialised()
		if err != nil {
			return err
		}
		return vs.DeleteSnapshot(snaps[i%16])
	}) {
		require.NoError(t, err, "delete %d", i)
	}
	for i, id := range snaps {
		assert.Nil(t, listed(t, d, id), "snapshot %d (%s) is still on the driver", i, id)
	}
}
