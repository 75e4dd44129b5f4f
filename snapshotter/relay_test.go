package snapshotter_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	volumesnapshotter "github.com/vmware-tanzu/velero/pkg/plugin/velero/volumesnapshotter/v1"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/relay"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// relayVSL is a VSL that reaches r with the client files of certs.
func relayVSL(d *testenv.CSIDriver, r *testenv.Relay, certs *testenv.RelayCerts, more ...string) map[string]string {
	vsl := map[string]string{"driver": d.Name, "endpoint": r.Endpoint, "pollInterval": "200ms",
		"tlsCertFile": certs.ClientCert, "tlsKeyFile": certs.ClientKey, "tlsCAFile": certs.CAFile,
		"tlsServerName": testenv.RelayServerName}
	for i := 0; i+1 < len(more); i += 2 {
		vsl[more[i]] = more[i+1]
	}
	return vsl
}

// TestRelayThroughHost: the plugin, loaded by Velero's host, reaches the
// real GCE PD driver through the built binary's csi-relay over mutual TLS,
// in the order of calls of a backup, two restores and a backup deletion.
func TestRelayThroughHost(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelayProcess(t, d.Endpoint, certs, "")
	h := testenv.StartHost(t, testenv.PluginDir(t), logrus.DebugLevel, "--log-level=debug")
	get := func() volumesnapshotter.VolumeSnapshotter {
		vs, err := h.Manager.GetVolumeSnapshotter("example.io/csi")
		require.NoError(t, err)
		return vs
	}
	vsl := relayVSL(d, r, certs)
	runDriverSuite(t, d, get, h, vsl)
	log := r.Text()

	// kill -9 of the relay, and a new one on the same address: the plugin
	// process's connection redials, and a retried CreateSnapshot finds the
	// snapshot made before.
	vs := get()
	require.NoError(t, vs.Init(vsl))
	src := d.CreateVolume(t, "kill-src", 10<<30)
	tags := map[string]string{"velero.io/backup": "b-kill", "velero.io/pv": "pv-k"}
	first, err := vs.CreateSnapshot(src.GetVolumeId(), "", tags)
	require.NoError(t, err)
	r.Kill()
	testenv.StartRelayProcess(t, d.Endpoint, certs, r.Addr)
	again, err := vs.CreateSnapshot(src.GetVolumeId(), "", tags)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, 1, countSnapshots(t, d, src.GetVolumeId()))
	for _, m := range []string{"Identity/Probe", "Controller/CreateSnapshot", "Controller/CreateVolume", "Controller/DeleteSnapshot"} {
		assert.Contains(t, log, "method=/csi.v1."+m, "the relay forwarded %s", m)
	}
	assert.Contains(t, log, "peer=\"127.0.0.1:", "each call names its peer")
	assert.Contains(t, log, "CN=velero", "and the client certificate's name")
}

// TestRelayRefusals: each bad certificate is refused, the plugin's Init
// fails with an error that says where to look, and the side that refused
// logs why.
func TestRelayRefusals(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	other := testenv.NewRelayCerts(t)
	now := time.Now()
	expiredCert, expiredKey := certs.Issue(t, relay.ClientAuth, "velero", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	fromServerCA, fromServerCAKey := certs.IssueFrom(t, certs.CA, relay.ClientAuth, "velero", now.Add(-time.Hour), now.Add(time.Hour))
	for _, tc := range []struct {
		name      string
		vsl       []string
		pluginErr string // in Init's error
		relayLog  string // in the relay's refusal, "" when the plugin refuses
	}{
		{"wrong server name", []string{"tlsServerName", "other.test"}, "certificate is valid for " + testenv.RelayServerName + ", not other.test", ""},
		{"server from another CA", []string{"tlsCAFile", other.CAFile}, "certificate signed by unknown authority", ""},
		{"client from another CA", []string{"tlsCertFile", other.ClientCert, "tlsKeyFile", other.ClientKey}, `the relay refused this client certificate: the relay does not trust its issuer "test relay client CA" (--client-ca-file), or it lacks the relay's --client-name among its SANs [velero]`, "signed by unknown authority"},
		{"client from the relay's CA", []string{"tlsCertFile", fromServerCA, "tlsKeyFile", fromServerCAKey}, "the relay refused this client certificate: it is signed by the relay's own CA (the VSL's CA), which the relay does not trust for clients", "signed by unknown authority"},
		{"expired client", []string{"tlsCertFile", expiredCert, "tlsKeyFile", expiredKey}, "the relay refused this client certificate: it expired on", "expired"},
		{"key of another certificate", []string{"tlsKeyFile", other.ClientKey}, "client certificate and key from tlsCertFile/tlsKeyFile/tlsCAFile", ""},
		{"missing CA file", []string{"tlsCAFile", "/nonexistent/ca.crt"}, "tlsCAFile /nonexistent/ca.crt", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
			err := vs.Init(relayVSL(d, r, certs, append(tc.vsl, "dialTimeout", "3s")...))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.pluginErr)
			if tc.relayLog != "" {
				assert.NotNil(t, r.Logs.Find(func(e *logrus.Entry) bool {
					return e.Message == "csi-relay refused a client" && strings.Contains(e.Data["reason"].(string), tc.relayLog)
				}), "the relay says why:\n%s", r.Text())
			}
		})
	}
	t.Run("plain TCP", func(t *testing.T) {
		vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
		err := vs.Init(map[string]string{"driver": d.Name, "endpoint": r.Endpoint})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "plain TCP is refused")
	})
}

// TestRelayTLSSecretAndCanary: the client certificate comes from a Secret
// in cert-manager's layout, read with the plugin's real client-go code;
// a CSI secret passed through CreateSnapshot reaches neither the relay's
// log nor the plugin's; a rotated Secret is used by the next Init.
func TestRelayTLSSecretAndCanary(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	k := testenv.StartKubeAPI(t)
	t.Setenv("KUBECONFIG", k.Kubeconfig)
	// deploy/csi-relay's layout: the client Secret's ca.crt is its own
	// issuer's (the client CA); the relay's CA is in tlsCASecretName.
	putTLS := func(cert, key string) {
		k.PutSecret("velero", "relay-client-tls", map[string]string{
			"tls.crt": readFile(t, cert), "tls.key": readFile(t, key), "ca.crt": readFile(t, certs.ClientCAFile)})
	}
	putTLS(certs.ClientCert, certs.ClientKey)
	k.PutSecret("velero", "relay-server-ca", map[string]string{"ca.crt": readFile(t, certs.CAFile)})
	const canary = "CANARY-csi-secret-9d41"
	k.PutSecret("velero", "csi-creds", map[string]string{"token": canary})
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	vsl := map[string]string{"driver": d.Name, "endpoint": r.Endpoint, "tlsSecretName": "relay-client-tls",
		"tlsSecretNamespace": "velero", "tlsCASecretName": "relay-server-ca", "tlsServerName": testenv.RelayServerName,
		"snapshotterSecretName": "csi-creds", "snapshotterSecretNamespace": "velero"}
	require.NoError(t, vs.Init(vsl))

	src := d.CreateVolume(t, "canary-src", 10<<30)
	id, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-canary", "velero.io/pv": "pv1"})
	require.NoError(t, err)
	require.NoError(t, vs.DeleteSnapshot(id))
	assert.Contains(t, r.Text(), "/csi.v1.Controller/CreateSnapshot")
	for where, text := range map[string]string{"relay": r.Text(), "plugin": logs.Text()} {
		assert.NotContains(t, text, canary, "the %s log", where)
		assert.NotContains(t, text, "PRIVATE KEY", "the %s log", where)
	}

	// Rotation: a new client certificate in the Secret is presented from
	// the next Init on; the relay names it in its log.
	rotated, rotatedKey := certs.Issue(t, relay.ClientAuth, "velero", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	putTLS(rotated, rotatedKey)
	require.NoError(t, vs.Init(vsl))
	_, err = vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-rotated", "velero.io/pv": "pv1"})
	require.NoError(t, err)
	serial := certSerial(t, rotated)
	assert.Eventually(t, func() bool { return strings.Contains(r.Text(), serial) }, 5*time.Second, 50*time.Millisecond,
		"the relay saw the rotated certificate (serial %s):\n%s", serial, r.Text())

	k.PutSecret("velero", "broken-tls", map[string]string{"tls.crt": "x", "ca.crt": "y"})
	vsl["tlsSecretName"] = "broken-tls"
	err = snapshotter.New(logs.Logger, config.Features{}, kube.New()).Init(vsl)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `TLS Secret velero/broken-tls has no "tls.key"`)
}

// countSnapshots is how many snapshots of volume the driver holds.
func countSnapshots(t *testing.T, d *testenv.CSIDriver, volume string) int {
	t.Helper()
	resp, err := d.Control.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{SourceVolumeId: volume})
	require.NoError(t, err)
	return len(resp.GetEntries())
}

func countVolumes(t *testing.T, d *testenv.CSIDriver) int {
	t.Helper()
	resp, err := d.Control.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	require.NoError(t, err)
	return len(resp.GetEntries())
}

// TestCreatesCannotOrphan: a create whose answer is lost, or comes after
// operationTimeout, while the driver did the work, is asked again by the
// same name and finds it; one that finally fails deletes what the driver
// made. Exactly one snapshot or volume exists after a success, none after
// a failure. The real driver does the work; the relay loses the answers.
func TestCreatesCannotOrphan(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	faults := &testenv.CSIFaults{}
	r := testenv.StartRelay(t, d.Endpoint, certs, faults.Option())
	logs := testenv.NewLogCapture(logrus.DebugLevel)
	vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(relayVSL(d, r, certs, "operationTimeout", "500ms", "snapshotReadyTimeout", "30s")))
	const createSnapshot, createVolume = "/csi.v1.Controller/CreateSnapshot", "/csi.v1.Controller/CreateVolume"

	src := d.CreateVolume(t, "orphan-src", 10<<30)
	obj := pv(t, "pv-o", d.Name, src.GetVolumeId(), "Filesystem")
	_, err := vs.GetVolumeID(obj)
	require.NoError(t, err)
	volumeType, _, err := vs.GetVolumeInfo(src.GetVolumeId(), "")
	require.NoError(t, err)

	var snapID string
	for i, fault := range map[string]testenv.CSIFault{"answer lost": testenv.LoseAnswer, "slower than operationTimeout": testenv.HoldAnswer} {
		t.Run("snapshot, "+i, func(t *testing.T) {
			faults.Add(createSnapshot, fault)
			id, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-" + strings.ReplaceAll(i, " ", "-"), "velero.io/pv": "pv-o"})
			require.NoError(t, err)
			before := countSnapshots(t, d, src.GetVolumeId())
			require.NoError(t, vs.DeleteSnapshot(id))
			assert.Equal(t, before-1, countSnapshots(t, d, src.GetVolumeId()), "one snapshot was made, and it is the one returned")
		})
		t.Run("volume, "+i, func(t *testing.T) {
			if snapID == "" {
				var err error
				snapID, err = vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-restore", "velero.io/pv": "pv-o"})
				require.NoError(t, err)
			}
			before := countVolumes(t, d)
			faults.Add(createVolume, fault)
			id, err := vs.CreateVolumeFromSnapshot(snapID, volumeType, "", nil)
			require.NoError(t, err)
			assert.NotEmpty(t, id)
			assert.Equal(t, before+1, countVolumes(t, d), "exactly one volume was made")
		})
	}

	t.Run("snapshot that finally fails leaves none", func(t *testing.T) {
		vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
		require.NoError(t, vs.Init(relayVSL(d, r, certs, "operationTimeout", "400ms", "snapshotReadyTimeout", "1s")))
		before := countSnapshots(t, d, src.GetVolumeId())
		faults.Add(createSnapshot, testenv.HoldAnswer, testenv.HoldAnswer, testenv.HoldAnswer)
		_, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-fails", "velero.io/pv": "pv-o"})
		require.Error(t, err)
		assert.Equal(t, before, countSnapshots(t, d, src.GetVolumeId()), "the snapshot the driver made was found and deleted")
		assert.NotNil(t, logs.Find(func(e *logrus.Entry) bool { return e.Message == "CSI snapshot of a failed backup deleted" }))
	})
	t.Run("volume that finally fails leaves none", func(t *testing.T) {
		vs := snapshotter.New(logs.Logger, config.Features{}, kube.New())
		require.NoError(t, vs.Init(relayVSL(d, r, certs, "operationTimeout", "400ms", "snapshotReadyTimeout", "1s")))
		_, err := vs.GetVolumeID(obj)
		require.NoError(t, err)
		before := countVolumes(t, d)
		faults.Add(createVolume, testenv.HoldAnswer, testenv.HoldAnswer, testenv.HoldAnswer)
		_, err = vs.CreateVolumeFromSnapshot(snapID, volumeType, "", nil)
		require.Error(t, err)
		assert.Equal(t, before, countVolumes(t, d), "the volume the driver made was found and deleted")
		assert.NotNil(t, logs.Find(func(e *logrus.Entry) bool { return e.Message == "volume of a failed restore deleted" }))
	})
}

// TestRelayRestartMidCreate: the relay is stopped while CreateSnapshot is
// in flight (the call is cut), and started again: the plugin's retry finds
// the snapshot the driver made, and no second one exists.
func TestRelayRestartMidCreate(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	faults := &testenv.CSIFaults{}
	r := testenv.StartRelay(t, d.Endpoint, certs, faults.Option())
	vs := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New())
	require.NoError(t, vs.Init(relayVSL(d, r, certs, "operationTimeout", "20s", "snapshotReadyTimeout", "1m")))
	src := d.CreateVolume(t, "restart-src", 10<<30)

	const createSnapshot = "/csi.v1.Controller/CreateSnapshot"
	faults.Add(createSnapshot, testenv.HoldAnswer)
	type result struct {
		id  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-restart", "velero.io/pv": "pv-r"})
		done <- result{id, err}
	}()
	require.Eventually(t, func() bool { return faults.Calls(createSnapshot) == 1 }, 10*time.Second, 10*time.Millisecond)
	r.Restart(t) // the held call is cut after testenv.RelayDrain
	res := <-done
	require.NoError(t, res.err)
	assert.GreaterOrEqual(t, faults.Calls(createSnapshot), 2, "the plugin asked again after the relay came back")
	assert.Equal(t, 1, countSnapshots(t, d, src.GetVolumeId()), "one snapshot, the one returned")
	again, err := vs.CreateSnapshot(src.GetVolumeId(), "", map[string]string{"velero.io/backup": "b-restart", "velero.io/pv": "pv-r"})
	require.NoError(t, err)
	assert.Equal(t, res.id, again)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// certSerial is a certificate file's serial as the relay logs it.
func certSerial(t *testing.T, path string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(readFile(t, path)))
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return fmt.Sprintf("serial=%x", c.SerialNumber)
}
