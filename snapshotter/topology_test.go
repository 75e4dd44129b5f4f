package snapshotter_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	volumesnapshotter "github.com/vmware-tanzu/velero/pkg/plugin/velero/volumesnapshotter/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/snapshotter"
)

const (
	gkeZone    = testenv.GCEZoneKey
	kubeZone   = "topology.kubernetes.io/zone"
	driverZone = "us-central1-c" // the fake cloud's own zone: where a volume asked for nothing goes
)

// zones the fake cloud has; any other is refused as GCE refuses an unknown zone.
var zones = []string{"us-central1-a", "us-central1-b", "us-central1-c", "us-east1-b", "us-east1-c"}

// zoneOf reads the zone out of a GCE PD volume ID (projects/P/zones/Z/disks/N).
func zoneOf(t *testing.T, volumeID string) string {
	t.Helper()
	m := regexp.MustCompile(`^projects/[^/]+/zones/([^/]+)/disks/[^/]+$`).FindStringSubmatch(volumeID)
	require.NotNil(t, m, "not a zonal GCE PD volume ID: %s", volumeID)
	return m[1]
}

// affinity is a PV's required node affinity as key=value per term.
func affinity(p *corev1.PersistentVolume) []string {
	var out []string
	if p.Spec.NodeAffinity == nil || p.Spec.NodeAffinity.Required == nil {
		return nil
	}
	for _, term := range p.Spec.NodeAffinity.Required.NodeSelectorTerms {
		var kv []string
		for _, e := range term.MatchExpressions {
			kv = append(kv, fmt.Sprintf("%s %s %s", e.Key, e.Operator, strings.Join(e.Values, ",")))
		}
		out = append(out, strings.Join(kv, " & "))
	}
	return out
}

// backedUp is one PV as a backup recorded it.
type backedUp struct {
	pv         *unstructured.Unstructured
	zone       string // where the source volume is
	volumeType string
	snapshotID string
}

// backup makes the backup calls for a PV on a volume made in zone, whose
// node affinity names the zone under key ("" none; Velero then hands the
// zone from the PV's label as volumeAZ).
func backup(t *testing.T, d *testenv.CSIDriver, vs volumesnapshotter.VolumeSnapshotter, name, zone, key string) backedUp {
	t.Helper()
	src := d.CreateVolumeIn(t, name+"-"+fmt.Sprint(time.Now().UnixNano()), 10<<30, map[string]string{gkeZone: zone})
	require.Equal(t, zone, zoneOf(t, src.GetVolumeId()))
	p := testenv.CSIPV(name, d.Name, src.GetVolumeId(), "10Gi", corev1.PersistentVolumeFilesystem)
	if key != "" {
		testenv.WithNodeAffinity(p, map[string]string{key: zone})
	}
	obj := testenv.Unstructured(t, p)
	id, err := vs.GetVolumeID(obj)
	require.NoError(t, err)
	vt, _, err := vs.GetVolumeInfo(id, zone)
	require.NoError(t, err)
	snap, err := vs.CreateSnapshot(id, zone, map[string]string{"velero.io/backup": "b-" + name, "velero.io/pv": name})
	require.NoError(t, err)
	return backedUp{pv: obj, zone: zone, volumeType: vt, snapshotID: snap}
}

// restore makes the restore calls and returns the new volume's zone and
// the restored PV.
func restore(t *testing.T, vs volumesnapshotter.VolumeSnapshotter, b backedUp) (string, *corev1.PersistentVolume) {
	t.Helper()
	id, err := vs.CreateVolumeFromSnapshot(b.snapshotID, b.volumeType, b.zone, nil)
	require.NoError(t, err)
	out, err := vs.SetVolumeID(b.pv, id)
	require.NoError(t, err)
	p := pvOf(t, out)
	require.Equal(t, id, p.Spec.CSI.VolumeHandle)
	return zoneOf(t, id), p
}

// TestTopologyRestore: PVs in two zones, through Velero's host, each
// restored into its own zone (read from the new volume's ID, and the PV's
// node affinity), then into the zones topologyMap names; a PV migrated
// from the in-tree plugin (its zone only under topology.kubernetes.io/zone)
// and a PV with only Velero's volumeAZ go to their zone under the
// driver's key; a zone the driver refuses fails with its words and the
// mapping; a backup made before topology was kept restores as it did
// (where the driver likes), its PV's node affinity following the volume.
func TestTopologyRestore(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithZone(driverZone), testenv.WithZones(zones...))
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.DebugLevel, "--log-level=debug")
	get := func(vsl map[string]string) volumesnapshotter.VolumeSnapshotter {
		vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
		require.NoError(t, err)
		require.NoError(t, vs.Init(vsl))
		return vs
	}
	vsl := map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms"}
	vs := get(vsl)
	a := backup(t, d, vs, "pv-a", "us-central1-a", gkeZone)
	b := backup(t, d, vs, "pv-b", "us-central1-b", gkeZone)
	intree := backup(t, d, vs, "pv-intree", "us-central1-b", kubeZone)
	label := backup(t, d, vs, "pv-label", "us-central1-a", "")
	assert.Contains(t, a.volumeType, `"topology":[{"topology.gke.io/zone":"us-central1-a"}]`)
	assert.Contains(t, intree.volumeType, `"topology":[{"topology.kubernetes.io/zone":"us-central1-b"}]`)
	assert.Contains(t, label.volumeType, `"topology":[{"topology.kubernetes.io/zone":"us-central1-a"}]`, "Velero's volumeAZ stands in for a PV without affinity")

	t.Run("each into its own zone", func(t *testing.T) {
		for _, bu := range []backedUp{a, b, intree, label} {
			zone, p := restore(t, get(vsl), bu)
			assert.Equal(t, bu.zone, zone, "%s: the restored volume's zone", p.Name)
			assert.Equal(t, []string{gkeZone + " In " + bu.zone}, affinity(p), "%s: node affinity from the new volume's accessible topology", p.Name)
		}
		e := h.Logs.Find(func(e *logrus.Entry) bool {
			return e.Message == "volume restored from CSI snapshot" && e.Data["zoneKey"] != nil
		})
		require.NotNil(t, e, "no restore line says where the driver's zone key came from:\n%s", h.Logs.Text())
		assert.Regexp(t, `^topology.gke.io/zone \((the node affinity of PV pv-[ab]|the accessible topology of volume .*|the driver's NodeGetInfo)\)$`, e.Data["zoneKey"])
	})

	t.Run("into the zones topologyMap names", func(t *testing.T) {
		mapped := with(vsl, "topologyMap", "topology.gke.io/zone: us-central1-a=us-east1-b, us-central1-b=us-east1-c")
		for _, bu := range []backedUp{a, b, intree} {
			want := map[string]string{"us-central1-a": "us-east1-b", "us-central1-b": "us-east1-c"}[bu.zone]
			zone, p := restore(t, get(mapped), bu)
			assert.Equal(t, want, zone, "%s: the restored volume's zone", p.Name)
			assert.Equal(t, []string{gkeZone + " In " + want}, affinity(p), "%s: node affinity", p.Name)
		}
	})

	t.Run("a zone the driver refuses", func(t *testing.T) {
		vs := get(with(vsl, "topologyMap", "topology.gke.io/zone: us-central1-a=europe-west9-z"))
		_, err := vs.CreateVolumeFromSnapshot(a.snapshotID, a.volumeType, a.zone, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Invalid value for field 'zone': 'europe-west9-z'. Unknown zone.", "the driver's words")
		assert.Contains(t, err.Error(), "asked for topology {topology.gke.io/zone=europe-west9-z}; topologyMap moved topology.gke.io/zone: us-central1-a=europe-west9-z")
	})

	t.Run("a backup made before topology was kept restores as it did", func(t *testing.T) {
		old := a
		old.volumeType = withoutTopology(t, a.volumeType)
		zone, p := restore(t, get(vsl), old)
		assert.Equal(t, driverZone, zone, "no requirement: the driver's own zone")
		assert.Equal(t, []string{gkeZone + " In " + driverZone}, affinity(p), "the node affinity follows the volume the driver made")
	})
}

// withoutTopology is the volume type the release before this one wrote.
func withoutTopology(t *testing.T, vt string) string {
	t.Helper()
	const prefix = "example.io/csi/v1:"
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(vt, prefix)), &m))
	delete(m, "topology")
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return prefix + string(out)
}

// TestTopologyDriverWithout: a driver without
// VOLUME_ACCESSIBILITY_CONSTRAINTS gets no requirement (the volume lands
// in its own zone); the PV keeps its affinity, moved by topologyMap.
func TestTopologyDriverWithout(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithZone(driverZone), testenv.WithoutTopology())
	vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
	vsl := map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms"}
	require.NoError(t, vs.Init(vsl))
	a := backup(t, d, vs, "pv-a", "us-central1-a", gkeZone)

	zone, p := restore(t, vs, a)
	assert.Equal(t, driverZone, zone, "no requirement was sent")
	assert.Equal(t, []string{gkeZone + " In us-central1-a"}, affinity(p))

	require.NoError(t, vs.Init(with(vsl, "topologyMap", "topology.gke.io/zone: us-central1-a=us-east1-b")))
	zone, p = restore(t, vs, a)
	assert.Equal(t, driverZone, zone, "no requirement was sent")
	assert.Equal(t, []string{gkeZone + " In us-east1-b"}, affinity(p), "the map moves the kept affinity")
}

// TestTopologyZoneKeyFromVSL: with topologyZoneKey set, an in-tree PV's
// zone goes under that key, and the log says so.
func TestTopologyZoneKeyFromVSL(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithZone(driverZone))
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms", "topologyZoneKey": gkeZone}))
	intree := backup(t, d, vs, "pv-intree", "us-central1-a", kubeZone)
	zone, p := restore(t, vs, intree)
	assert.Equal(t, "us-central1-a", zone)
	assert.Equal(t, []string{gkeZone + " In us-central1-a"}, affinity(p))
	e := logs.Find(func(e *logrus.Entry) bool { return e.Message == "volume restored from CSI snapshot" })
	require.NotNil(t, e)
	assert.Equal(t, "topology.gke.io/zone (topologyZoneKey in VSL config)", e.Data["zoneKey"])
}

// listed says whether the driver lists snapshot id, ready, of source.
func listed(t *testing.T, d *testenv.CSIDriver, id string) *csi.Snapshot {
	t.Helper()
	resp, err := d.Control.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{SnapshotId: id})
	require.NoError(t, err)
	for _, e := range resp.GetEntries() {
		if e.GetSnapshot().GetSnapshotId() == id {
			return e.GetSnapshot()
		}
	}
	return nil
}

// with is m plus the key-value pairs kv.
func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestTopologyZoneKeyUnknown: through a csi-relay (no NodeGetInfo) a fresh
// process that has seen no volume of the driver cannot tell its zone key:
// an in-tree PV's zone is not asked for, a Warning says to set
// topologyZoneKey, and with it set the zone is honoured.
func TestTopologyZoneKeyUnknown(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithZone(driverZone))
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(relayVSL(d, r, certs)))
	intree := backup(t, d, vs, "pv-intree", "us-central1-a", kubeZone)

	zone, _ := restore(t, vs, intree)
	assert.Equal(t, driverZone, zone, "no zone asked for: where the driver likes, as before")
	e := logs.Find(func(e *logrus.Entry) bool { return strings.Contains(e.Message, "the driver's zone key is not known") })
	require.NotNil(t, e, "no Warning:\n%s", logs.Text())
	assert.Equal(t, logrus.WarnLevel, e.Level)
	assert.Contains(t, e.Message, "set topologyZoneKey")
	assert.Equal(t, "us-central1-a", e.Data["zone"])

	vs = snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(relayVSL(d, r, certs, "topologyZoneKey", gkeZone)))
	zone, p := restore(t, vs, intree)
	assert.Equal(t, "us-central1-a", zone)
	assert.Equal(t, []string{gkeZone + " In us-central1-a"}, affinity(p))
}
