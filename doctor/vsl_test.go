package doctor_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// vsl is a VolumeSnapshotLocation manifest of example.io/csi.
func vsl(config map[string]string) map[string]any {
	return map[string]any{
		"apiVersion": "velero.io/v1", "kind": "VolumeSnapshotLocation",
		"metadata": map[string]any{"name": "csi", "namespace": "velero"},
		"spec":     map[string]any{"provider": "example.io/csi", "config": config},
	}
}

// relayConfig reaches r with the client files of certs.
func relayConfig(d *testenv.CSIDriver, r *testenv.Relay, certs *testenv.RelayCerts) map[string]string {
	return map[string]string{"driver": d.Name, "endpoint": r.Endpoint, "dialTimeout": "5s",
		"tlsCertFile": certs.ClientCert, "tlsKeyFile": certs.ClientKey, "tlsCAFile": certs.CAFile,
		"tlsServerName": testenv.RelayServerName}
}

// assertAllPass: exit 0 and every line ✓.
func assertAllPass(t *testing.T, out, stderr string, code int) {
	t.Helper()
	assert.Equal(t, 0, code, "exit code; stderr: %s\n%s", stderr, out)
	for _, l := range lines(out) {
		assert.True(t, strings.HasPrefix(l, "✓ "), "a line that is not ✓: %s", l)
	}
	assert.Contains(t, out, "VolumeSnapshotLocation velero/csi: all ")
}

// TestDoctorVSL runs the built binary's doctor against the real GCE PD
// driver, direct on its socket and through the real relay, one fault at a
// time, asserting the exact ✗ line, its fix and the exit code.
func TestDoctorVSL(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)

	t.Run("good on the socket", func(t *testing.T) {
		out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": d.Name, "endpoint": d.Endpoint})))
		assertAllPass(t, out, stderr, code)
		for _, want := range []string{"✓ config parses: driver=pd.csi.storage.gke.io (VSL config), endpoint=" + d.Endpoint + " (VSL config)",
			"✓ socket of CSI driver pd.csi.storage.gke.io at " + d.Endpoint + ": ",
			"✓ CSI driver pd.csi.storage.gke.io at " + d.Endpoint + " ready (Probe): ready",
			"✓ driver name at " + d.Endpoint + " (GetPluginInfo): pd.csi.storage.gke.io",
			"✓ CSI driver pd.csi.storage.gke.io controller capabilities: CREATE_DELETE_SNAPSHOT, CREATE_DELETE_VOLUME",
			"✓ ListSnapshots: answered",
			"✓ topology of CSI driver pd.csi.storage.gke.io (GetPluginCapabilities, NodeGetInfo): VOLUME_ACCESSIBILITY_CONSTRAINTS: restored volumes are asked for their PV's topology; keys topology.gke.io/zone"} {
			assert.Contains(t, out, want)
		}
	})
	t.Run("good through the relay", func(t *testing.T) {
		out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(relayConfig(d, r, certs))))
		assertAllPass(t, out, stderr, code)
		assert.Contains(t, out, "✓ TLS with the relay at "+r.Addr+": TLS 1.3; the relay accepts the client certificate and its certificate is valid for csi-relay.test")
		assert.Contains(t, out, "✓ relay of CSI driver pd.csi.storage.gke.io at "+r.Endpoint+" reachable")
	})
	other := testenv.NewRelayCerts(t)
	for _, f := range []struct {
		name   string
		config map[string]string
		want   string // the ✗ line with its fix
	}{
		{"wrong driver name", map[string]string{"driver": "ebs.csi.aws.com", "endpoint": d.Endpoint},
			"✗ driver name at " + d.Endpoint + " (GetPluginInfo): the endpoint serves driver pd.csi.storage.gke.io, the VSL says ebs.csi.aws.com\n" +
				"    fix: set driver: pd.csi.storage.gke.io or point endpoint at ebs.csi.aws.com's controller"},
		{"no socket", map[string]string{"driver": d.Name, "endpoint": "unix:///nonexistent/csi.sock"},
			"✗ socket of CSI driver pd.csi.storage.gke.io at unix:///nonexistent/csi.sock: no socket at /nonexistent/csi.sock: " +
				"is the driver's controller socket mounted into this pod (deploy/velero-deployment-patch.yaml)?\n" +
				"    fix: mount the driver's controller socket at /nonexistent/csi.sock (a hostPath as in deploy/velero-deployment-patch.yaml), " +
				"or set endpoint to where it is, or reach the controller through csi-relay (deploy/csi-relay/)"},
		{"client certificate from another CA", with(relayConfig(d, r, certs), "tlsCertFile", other.ClientCert, "tlsKeyFile", other.ClientKey),
			"✗ TLS with the relay at " + r.Addr + `: the relay refused this client certificate: the relay does not trust its issuer "test relay client CA" (--client-ca-file), ` +
				`or it lacks the relay's --client-name among its SANs [velero] (the relay's alert is: bad certificate)` + "\n" +
				"    fix: issue the client certificate from the client CA in the relay's --client-ca-file, with the relay's --client-name as a DNS SAN " +
				"(deploy/csi-relay/cert-manager.yaml does), and point tlsCertFile/tlsKeyFile or tlsSecretName at it"},
		{"relay certificate from another CA", with(relayConfig(d, r, certs), "tlsCAFile", other.CAFile),
			"✗ TLS with the relay at " + r.Addr + `: the relay's certificate (issued by "test relay CA") is not signed by the VSL's CA: x509: certificate signed by unknown authority` + "\n" +
				"    fix: set tlsCAFile (or ca.crt of the tlsCASecretName Secret, else of the tlsSecretName Secret) to the CA that signed the relay's certificate (--tls-cert-file)"},
	} {
		t.Run(f.name, func(t *testing.T) {
			out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(f.config)))
			assert.Equal(t, 1, code, "exit code; stderr: %s", stderr)
			assert.Equal(t, []string{f.want}, failed(out), "✗ lines of:\n%s", out)
			assert.Contains(t, out, "- later checks: skipped: they need the one that failed")
		})
	}
	t.Run("json", func(t *testing.T) {
		text, _, _ := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": "ebs.csi.aws.com", "endpoint": d.Endpoint})))
		out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": "ebs.csi.aws.com", "endpoint": d.Endpoint})), "--output", "json")
		assert.Equal(t, 1, code, stderr)
		var doc struct {
			Location string `json:"location"`
			OK       bool   `json:"ok"`
			Checks   []struct{ Check, Result, Seen, Error, Fix string }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		assert.Equal(t, "VolumeSnapshotLocation velero/csi", doc.Location)
		assert.False(t, doc.OK)
		textLines := lines(text)
		require.Len(t, doc.Checks, len(textLines))
		for i, c := range doc.Checks {
			want := map[string]string{"pass": "✓ ", "fail": "✗ ", "note": "- "}[c.Result] + c.Check
			assert.True(t, strings.HasPrefix(textLines[i], want), "line %d: %q in JSON, %q in text", i, want, textLines[i])
		}
		last := doc.Checks[len(doc.Checks)-2]
		assert.Equal(t, "fail", last.Result)
		assert.Equal(t, "the endpoint serves driver pd.csi.storage.gke.io, the VSL says ebs.csi.aws.com", last.Error)
		assert.Equal(t, "set driver: pd.csi.storage.gke.io or point endpoint at ebs.csi.aws.com's controller", last.Fix)
	})
}

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

// TestDoctorVSLNoSnapshots: a driver that does not advertise snapshots is
// named with the capability it lacks.
func TestDoctorVSLNoSnapshots(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithoutSnapshots())
	out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": d.Name, "endpoint": d.Endpoint})))
	assert.Equal(t, 1, code, stderr)
	assert.Equal(t, []string{"✗ CSI driver pd.csi.storage.gke.io controller capabilities: the driver lacks the controller capability CREATE_DELETE_SNAPSHOT, which this plugin needs\n" +
		"    fix: use a version of pd.csi.storage.gke.io (or a driver) with snapshot support, or back these volumes up another way (Velero's file system backup)"}, failed(out), out)
}

// TestDoctorVSLTestVolume: --create-test-volume goes through a create,
// snapshot, restore and the three deletes, and the driver holds nothing
// afterwards.
func TestDoctorVSLTestVolume(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms"})),
		"--create-test-volume", "1Gi")
	assertAllPass(t, strings.ReplaceAll(out, "- test volume cleanup:", "✓ test volume cleanup:"), stderr, code)
	for _, step := range []string{"create test volume velero-doctor-", "snapshot the test volume and wait until ready", "restore a volume from the snapshot",
		"delete restored volume ", "delete snapshot ", "delete test volume "} {
		assert.Contains(t, out, "✓ "+step, "step %q", step)
	}
	assert.Regexp(t, `✓ create test volume velero-doctor-[0-9a-f]{8} of 1073741824 bytes \(\d+(\.\d+)?m?s\): volume `, out, "the step is timed")
	assert.Contains(t, out, "- test volume cleanup: nothing is left of velero-doctor-")
	snaps, err := d.Control.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{})
	require.NoError(t, err)
	assert.Empty(t, snaps.GetEntries(), "snapshots left on the driver")
	vols, err := d.Control.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	require.NoError(t, err)
	assert.Empty(t, vols.GetEntries(), "volumes left on the driver")
}

// TestDoctorVSLInCluster reads the VSL and its CSI secret from a fake
// API server through the plugin's client-go code.
func TestDoctorVSLInCluster(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	k := testenv.StartKubeAPI(t)
	put := func(name string, cfg map[string]string) {
		m := vsl(cfg)
		m["metadata"] = map[string]any{"name": name, "namespace": "velero"}
		data, err := yaml.Marshal(m)
		require.NoError(t, err)
		k.PutVeleroObject(t, "velero", "volumesnapshotlocations", name, data)
	}
	k.PutSecret("velero", "csi-creds", map[string]string{"token": "s3cr3t"})
	put("good", map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "snapshotterSecretName": "csi-creds", "snapshotterSecretNamespace": "velero"})
	put("missing-secret", map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "snapshotterSecretName": "nope", "snapshotterSecretNamespace": "velero"})

	out, stderr, code := run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--vsl-name", "good")
	assert.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "✓ read CSI secret velero/csi-creds: 1 keys (values not shown)")
	assert.NotContains(t, out, "s3cr3t")

	out, stderr, code = run(t, "--kubeconfig", k.Kubeconfig, "--namespace", "velero", "--vsl-name", "missing-secret")
	assert.Equal(t, 1, code, stderr)
	assert.Equal(t, []string{`✗ read CSI secret velero/nope: secrets "nope" not found` + "\n" +
		"    fix: create Secret velero/nope with the driver's CSI secrets, or correct snapshotterSecretName/snapshotterSecretNamespace"}, failed(out), out)
}

// TestInitErrorIsDoctorLine: for the same fault, Init's error (what Velero
// shows on the VSL and the backup) is the doctor's ✗ line with its fix.
func TestInitErrorIsDoctorLine(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs, other := testenv.NewRelayCerts(t), testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	for name, cfg := range map[string]map[string]string{
		"wrong driver":          {"driver": "ebs.csi.aws.com", "endpoint": d.Endpoint},
		"refused client":        with(relayConfig(d, r, certs), "tlsCertFile", other.ClientCert, "tlsKeyFile", other.ClientKey),
		"missing CSI secret":    {"driver": d.Name, "endpoint": d.Endpoint, "snapshotterSecretName": "nope", "snapshotterSecretNamespace": "velero"},
		"no socket":             {"driver": d.Name, "endpoint": "unix:///nonexistent/csi.sock"},
		"relay from another CA": with(relayConfig(d, r, certs), "tlsCAFile", other.CAFile),
	} {
		t.Run(name, func(t *testing.T) {
			k := testenv.StartKubeAPI(t)
			t.Setenv("KUBECONFIG", k.Kubeconfig)
			out, _, code := run(t, "--kubeconfig", k.Kubeconfig, "--vsl", writeManifest(t, vsl(cfg)))
			require.Equal(t, 1, code, out)
			got := failed(out)
			require.Len(t, got, 1, out)
			err := snapshotter.New(testenv.NewLogCapture(logrus.DebugLevel).Logger, config.Features{}, kube.New()).Init(cfg)
			require.Error(t, err)
			line := strings.Replace(strings.TrimPrefix(got[0], "✗ "), "\n    fix: ", "; fix: ", 1)
			assert.Equal(t, line, err.Error())
		})
	}
}

// TestDoctorVSLTopologyMap: with topologyMap and --create-test-volume,
// doctor creates a volume in each target: a zone the driver has passes,
// one it refuses is a ✗ with the driver's words and the mapping. The
// driver has no GET_CAPACITY, which a note says.
func TestDoctorVSLTopologyMap(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithZone("us-central1-c"), testenv.WithZones("us-central1-a", "us-central1-c", "us-east1-b"))
	out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": d.Name, "endpoint": d.Endpoint, "pollInterval": "200ms",
		"topologyMap": "topology.gke.io/zone: us-central1-a=us-east1-b, us-central1-c=europe-west9-z"})), "--create-test-volume", "1Gi")
	assert.Equal(t, 1, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "- topologyMap targets: not checked: the driver has no GET_CAPACITY; --create-test-volume creates a volume in each target")
	assert.Regexp(t, `✓ create a volume in topologyMap target topology.gke.io/zone=us-east1-b( \([^)]*\))?: volume projects/test-project/zones/us-east1-b/disks/velero-doctor-[0-9a-f]+ in \{topology.gke.io/zone=us-east1-b\}, deleted`, out)
	var refused []string
	for _, l := range failed(out) {
		if strings.Contains(l, "europe-west9-z") {
			refused = append(refused, l)
		}
	}
	require.Len(t, refused, 2, "the restore of the test volume (in us-central1-c, mapped) and the target's own check:\n%s", out)
	for _, l := range refused {
		assert.Contains(t, l, "Invalid value for field 'zone': 'europe-west9-z'. Unknown zone.")
		assert.Contains(t, l, "topology.gke.io/zone: us-central1-c=europe-west9-z")
	}
	vols, err := d.Control.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	require.NoError(t, err)
	assert.Empty(t, vols.GetEntries(), "volumes left on the driver")
}

// TestDoctorVSLDriverConfigError: a driver that answers INTERNAL for want
// of a setting (ceph-csi's clusterID) is named as such by
// --create-test-volume, before a backup meets it.
func TestDoctorVSLDriverConfigError(t *testing.T) {
	d := testenv.StartGCEPDDriver(t, testenv.WithInternalWithoutParameter("clusterID"))
	out, stderr, code := run(t, "--vsl", writeManifest(t, vsl(map[string]string{"driver": d.Name, "endpoint": d.Endpoint})), "--create-test-volume", "1Gi")
	assert.Equal(t, 1, code, "%s\n%s", out, stderr)
	f := failed(out)
	require.Len(t, f, 1, out)
	assert.Regexp(t, `^✗ create test volume velero-doctor-[0-9a-f]{8} of 1073741824 bytes( \([^)]*\))?: failed to fetch monitor list using clusterID \(\): missing configuration for cluster ID "" \(CSI driver pd.csi.storage.gke.io answered Internal to CreateVolume`, f[0])
	assert.Contains(t, f[0], "CreateVolume gets from the VSL restoreParameters.<name> (none set) and the CSI secret of snapshotterSecretName/snapshotterSecretNamespace (none set)")
	assert.NotContains(t, out, "left behind, delete by hand")
}
