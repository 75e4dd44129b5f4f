package snapshotter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	volumesnapshotter "github.com/vmware-tanzu/velero/pkg/plugin/velero/volumesnapshotter/v1"
	corev1 "k8s.io/api/core/v1"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// drivers are the real CSI drivers with snapshot support that run here;
// the suite runs on each.
var drivers = map[string]func(testenv.T) *testenv.CSIDriver{
	"gce-pd": func(t testenv.T) *testenv.CSIDriver { return testenv.StartGCEPDDriver(t) },
}

// TestDrivers runs a backup, a restore (twice) and a backup deletion in the
// order Velero makes the calls, in process and through Velero's plugin host.
func TestDrivers(t *testing.T) {
	for name, start := range drivers {
		t.Run(name, func(t *testing.T) {
			d := start(t)
			for _, path := range []string{"direct", "velero-host"} {
				t.Run(path, func(t *testing.T) {
					// get returns the snapshotter as Velero gets one for each
					// backup item or restored PV: through the host a new
					// client each time, served by the one plugin-side instance.
					var get func() volumesnapshotter.VolumeSnapshotter
					var h *testenv.Host
					if path == "direct" {
						vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
						get = func() volumesnapshotter.VolumeSnapshotter { return vs }
					} else {
						h = testenv.StartHost(t, testenv.PluginDir(t), logrus.DebugLevel, "--log-level=debug")
						get = func() volumesnapshotter.VolumeSnapshotter {
							vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
							require.NoError(t, err)
							return vs
						}
					}
					runDriverSuite(t, d, get, h, nil)
				})
			}
		})
	}
}

// runDriverSuite makes the calls of a backup, two restores and a backup
// deletion; vsl nil means the driver's own socket.
func runDriverSuite(t *testing.T, d *testenv.CSIDriver, get func() volumesnapshotter.VolumeSnapshotter, h *testenv.Host, vsl map[string]string) {
	if vsl == nil {
		vsl = map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms"}
	}
	vs := get()
	require.NoError(t, vs.Init(vsl))
	src := d.CreateVolume(t, fmt.Sprintf("src-%d", time.Now().UnixNano()), 20<<30)
	backup := fmt.Sprintf("backup-%d", time.Now().UnixNano())
	tags := map[string]string{"velero.io/backup": backup, "velero.io/pv": "pv-data", "velero.io/storage-location": "default"}

	// Backup: GetVolumeID, GetVolumeInfo, CreateSnapshot (item_backupper.go).
	obj := pv(t, "pv-data", d.Name, src.GetVolumeId(), corev1.PersistentVolumeFilesystem)
	id, err := vs.GetVolumeID(obj)
	require.NoError(t, err)
	assert.Equal(t, src.GetVolumeId(), id)
	other, err := vs.GetVolumeID(pv(t, "pv-other", "other.csi.example.io", "h1", corev1.PersistentVolumeFilesystem))
	require.NoError(t, err)
	assert.Empty(t, other, "a PV of another driver is not ours")
	volumeType, iops, err := vs.GetVolumeInfo(id, "zone-a")
	require.NoError(t, err)
	assert.Nil(t, iops)
	assert.True(t, strings.HasPrefix(volumeType, "example.io/csi/v1:"), volumeType)
	assert.Contains(t, volumeType, `"fsType":"ext4"`)
	snapID, err := vs.CreateSnapshot(id, "zone-a", tags)
	require.NoError(t, err)
	require.NotEmpty(t, snapID)

	t.Run("a retried CreateSnapshot finds the same snapshot", func(t *testing.T) {
		again, err := vs.CreateSnapshot(id, "zone-a", tags)
		require.NoError(t, err)
		assert.Equal(t, snapID, again)
	})

	// Restore: Init once per PV, CreateVolumeFromSnapshot, SetVolumeID (pv_restorer.go).
	restored := map[string]bool{}
	for i := 0; i < 2; i++ {
		vs := get()
		require.NoError(t, vs.Init(vsl))
		newID, err := vs.CreateVolumeFromSnapshot(snapID, volumeType, "zone-a", nil)
		require.NoError(t, err)
		require.NotEmpty(t, newID)
		assert.NotEqual(t, src.GetVolumeId(), newID)
		restored[newID] = true
		out, err := vs.SetVolumeID(obj, newID)
		require.NoError(t, err)
		p := pvOf(t, out)
		assert.Equal(t, newID, p.Spec.CSI.VolumeHandle)
		assert.Equal(t, d.Name, p.Spec.CSI.Driver)
		assert.Equal(t, "pv-data", p.Name)
	}
	assert.Len(t, restored, 2, "restoring one backup twice gives two volumes")
	if h != nil {
		restoredLine := func(e *logrus.Entry) bool { return e.Message == "volume restored from CSI snapshot" }
		assert.Equal(t, 2, h.Logs.Count(2, restoredLine))
		for _, e := range h.Logs.Entries() {
			if restoredLine(e) {
				assert.Equal(t, snapID, e.Data["driverContentSource"], "the driver made the volume from the snapshot")
			}
		}
	}

	t.Run("restore refuses what it cannot do", func(t *testing.T) {
		_, err := vs.CreateVolumeFromSnapshot("", volumeType, "zone-a", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "snapshot ID is empty")
		_, err = vs.CreateVolumeFromSnapshot(snapID, "gp2", "zone-a", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not written by this plugin")
	})

	// Backup deletion: DeleteSnapshot, idempotent.
	vs = get()
	require.NoError(t, vs.Init(vsl))
	require.NoError(t, vs.DeleteSnapshot(snapID))
	require.NoError(t, vs.DeleteSnapshot(snapID), "deleting a deleted snapshot succeeds")
	resp, err := d.Control.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{SnapshotId: snapID})
	require.NoError(t, err)
	for _, e := range resp.GetEntries() {
		assert.NotEqual(t, snapID, e.GetSnapshot().GetSnapshotId(), "snapshot still listed after delete")
	}
}

func TestInitRefusesWrongDriver(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
	err := vs.Init(map[string]string{"driver": "ebs.csi.aws.com", "endpoint": d.Endpoint})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the endpoint serves driver pd.csi.storage.gke.io, the VSL says ebs.csi.aws.com; "+
		"fix: set driver: pd.csi.storage.gke.io or point endpoint at ebs.csi.aws.com's controller")
}

func TestInitBoundedOnDeadDrivers(t *testing.T) {
	tests := map[string]string{
		"no socket":             "unix://" + t.TempDir() + "/none.sock",
		"accepts, never speaks": testenv.SilentSocket(t),
	}
	for name, ep := range tests {
		t.Run(name, func(t *testing.T) {
			vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
			done := make(chan error, 1)
			go func() {
				done <- vs.Init(map[string]string{"driver": "d.example.io", "endpoint": ep, "dialTimeout": "1s"})
			}()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.Contains(t, err.Error(), "CSI driver d.example.io at "+ep)
			case <-time.After(30 * time.Second): // a guard against a hang, not a timing assertion
				t.Fatal("Init did not return")
			}
		})
	}
}

func TestEnableCSIWarnsThroughHost(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.InfoLevel, "--log-level=info", "--features=EnableCSI")
	vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
	require.NoError(t, err)
	require.NoError(t, vs.Init(map[string]string{"driver": d.Name, "endpoint": d.Endpoint}))
	e := h.Logs.Find(func(e *logrus.Entry) bool { return strings.Contains(e.Message, "--features=EnableCSI") })
	require.NotNil(t, e, "no EnableCSI warning in:\n%s", h.Logs.Text())
	assert.Equal(t, logrus.WarnLevel, e.Level)
}
