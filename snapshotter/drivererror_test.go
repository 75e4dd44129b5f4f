package snapshotter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/snapshotter"
)

const cephMissingCluster = `failed to fetch monitor list using clusterID (): missing configuration for cluster ID ""`

func leftBehind(e *logrus.Entry) bool { return strings.Contains(e.Message, "may have left") }

// TestDriverConfigError: a driver that answers INTERNAL for want of a
// setting (ceph-csi without its clusterID; here the test driver's
// --internal-without-parameter) makes nothing: the error leads with the
// driver's words and names the VSL keys that feed the call, and no "left
// behind" line is logged. With the parameter set, the same calls work.
func TestDriverConfigError(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithInternalWithoutParameter("clusterID"))
	src := d.CreateVolumeIn(t, "cfg-src", 10<<30, map[string]string{testenv.GCEZoneKey: "country-region-zone"}, "clusterID", "ceph-a")
	vsl := map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms", "parameters.snapshot-type": "snapshots"}
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(vsl))
	id, err := vs.GetVolumeID(pv(t, "pv-c", d.Name, src.GetVolumeId(), "Filesystem"))
	require.NoError(t, err)
	volumeType, _, err := vs.GetVolumeInfo(id, "")
	require.NoError(t, err)
	tags := map[string]string{"velero.io/backup": "b-cfg", "velero.io/pv": "pv-c"}

	_, err = vs.CreateSnapshot(id, "", tags)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), cephMissingCluster+" (CSI driver pd.csi.storage.gke.io answered Internal to CreateSnapshot of snapshot velero-"), err.Error())
	assert.Contains(t, err.Error(), "and holds nothing by that name: nothing is left behind")
	assert.Contains(t, err.Error(), "CreateSnapshot gets from the VSL parameters.<name> (set: parameters.snapshot-type) and the CSI secret of snapshotterSecretName/snapshotterSecretNamespace (none set)")
	assert.True(t, errors.Is(err, snapshotter.ErrDriverConfig))
	assert.Nil(t, logs.Find(leftBehind), "nothing was made, nothing is said to be left:\n%s", logs.Text())
	assert.Equal(t, 0, countSnapshots(t, d, id))

	require.NoError(t, vs.Init(with(vsl, "parameters.clusterID", "ceph-a")))
	snapID, err := vs.CreateSnapshot(id, "", tags)
	require.NoError(t, err, "with the setting the same backup works")

	_, err = vs.CreateVolumeFromSnapshot(snapID, volumeType, "", nil)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), cephMissingCluster+" (CSI driver pd.csi.storage.gke.io answered Internal to CreateVolume of volume velero-restore-"), err.Error())
	assert.Contains(t, err.Error(), "CreateVolume gets from the VSL restoreParameters.<name> (none set)")
	assert.Nil(t, logs.Find(leftBehind))

	require.NoError(t, vs.Init(with(vsl, "parameters.clusterID", "ceph-a", "restoreParameters.clusterID", "ceph-a")))
	_, err = vs.CreateVolumeFromSnapshot(snapID, volumeType, "", nil)
	require.NoError(t, err, "with restoreParameters.clusterID the restore works")
}

// TestDriverFailsAfterMaking: a driver that made the snapshot and then
// answered INTERNAL, twice, still holds it: the "left behind" line is
// logged, and it is true.
func TestDriverFailsAfterMaking(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	faults := &testenv.CSIFaults{}
	r := testenv.StartRelay(t, d.Endpoint, certs, faults.Option())
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(relayVSL(d, r, certs)))
	src := d.CreateVolume(t, "made-src", 10<<30)
	faults.Add("/csi.v1.Controller/CreateSnapshot", testenv.FailInternal, testenv.FailInternal)
	_, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-made", "velero.io/pv": "pv-m"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "test fault: the driver did the work, then failed")
	assert.False(t, errors.Is(err, snapshotter.ErrDriverConfig), "the driver holds a snapshot by that name: not a configuration error")
	e := logs.Find(leftBehind)
	require.NotNil(t, e, "no left-behind line:\n%s", logs.Text())
	assert.Equal(t, logrus.ErrorLevel, e.Level)
	assert.Equal(t, 1, countSnapshots(t, d, src.GetVolumeId()), "the line is true: the snapshot is there")
}
