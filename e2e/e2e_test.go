//go:build e2e

// Package e2e backs up and restores a namespace with Velero's own server,
// run out of cluster against a local kube-apiserver, with this plugin as
// its object store (MinIO) and volume snapshotter (the GCE PD CSI driver
// on its fake GCE). `make e2e` runs it.
package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

const (
	ns     = "velero"
	app    = "demo"
	bucket = "velero"
	locked = "velero-locked" // Object Lock enabled: the immutable-backups BSL
	backup = "e2e-backup"
)

var (
	bslGVR     = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backupstoragelocations"}
	vslGVR     = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "volumesnapshotlocations"}
	backupGVR  = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backups"}
	restoreGVR = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "restores"}
	repoGVR    = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backuprepositories"}
)

type steps struct {
	t     *testing.T
	start time.Time
	last  time.Time
	lines []string
}

func (s *steps) done(what string) {
	now := time.Now()
	line := fmt.Sprintf("%7.1fs  %s", now.Sub(s.last).Seconds(), what)
	s.lines = append(s.lines, line)
	s.t.Logf("STEP %s", line)
	s.last = now
}

func (s *steps) print() {
	fmt.Println("\ne2e timings:")
	for _, l := range s.lines {
		fmt.Println("  " + l)
	}
	fmt.Printf("  %7.1fs  total\n", time.Since(s.start).Seconds())
}

func TestBackupRestoreDelete(t *testing.T) {
	st := &steps{t: t, start: time.Now(), last: time.Now()}
	defer st.print()
	ctx := context.Background()

	cluster := testenv.StartCluster(t)
	st.done("etcd and kube-apiserver up")
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	require.NoError(t, srv.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{}))
	require.NoError(t, srv.Client().MakeBucket(ctx, locked, minio.MakeBucketOptions{ObjectLocking: true}))
	driver := testenv.StartGCEPDDriver(t)
	veleroBin := testenv.Tool(t, "velero")
	pluginDir := testenv.PluginDir(t)
	st.done("MinIO, CSI driver, plugin binary ready")

	kc := cluster.Kubeconfig
	velero := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(veleroBin, append(args, "--kubeconfig", kc, "--namespace", ns)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		require.NoError(t, err, "velero %s:\n%s", strings.Join(args, " "), out.String())
		return out.String()
	}
	dyn := dynamicClient(t, kc)
	kube := cluster.Client

	// Velero's CRDs, namespace, and the objects Velero expects.
	crds := exec.Command(veleroBin, "install", "--crds-only", "--kubeconfig", kc)
	out, err := crds.CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, created(kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})))
	zero := int32(0)
	require.NoError(t, created(kube.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "velero", &zero), metav1.CreateOptions{})))
	creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey)
	require.NoError(t, created(kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3compat-credentials"},
		StringData: map[string]string{"cloud": creds}}, metav1.CreateOptions{})))
	require.NoError(t, created(kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "s3compat-config",
		Labels: testenv.PluginLabels("example.io/s3compat", "ObjectStore")},
		Data: map[string]string{"multipartConcurrency": "3", "progressInterval": "2s"}}, metav1.CreateOptions{})))
	require.NoError(t, created(kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "csi-config",
		Labels: testenv.PluginLabels("example.io/csi", "VolumeSnapshotter")},
		Data: map[string]string{"pollInterval": "1s"}}, metav1.CreateOptions{})))
	// The default BSL encrypts its backup contents with age to two keys
	// (one kept off the cluster: escrow); the cluster holds the identity of
	// the first in a Secret, for restores: the README's steps.
	ageKey, escrow := testenv.NewAgeKey(t), testenv.NewAgeKey(t)
	require.NoError(t, created(kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "velero-backup-age"},
		StringData: map[string]string{"key.txt": string(ageKey.KeyFile)}}, metav1.CreateOptions{})))
	// It signs every object with a minisign key from a Secret and refuses
	// to read an unsigned one (docs/signed-backups.md's steps).
	signKey := testenv.NewMinisignKey(t)
	require.NoError(t, created(kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "velero-minisign"},
		StringData: map[string]string{"key": string(signKey.SecretKey)}}, metav1.CreateOptions{})))
	applyVelero(t, dyn, bslGVR, &velerov1.BackupStorageLocation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "BackupStorageLocation"},
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider: "example.io/s3compat", Default: true,
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: bucket, Prefix: "cluster-a"}},
			Config: map[string]string{"s3Url": srv.Endpoint, "publicUrl": srv.Endpoint,
				"encryptionRecipients": ageKey.Recipient + "," + escrow.Recipient, "encryptionIdentitySecret": "velero-backup-age/key.txt",
				"signingKeySecret": "velero-minisign/key", "requireSignatures": "true"},
			Credential: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s3compat-credentials"}, Key: "cloud"},
		},
	})
	// A second BSL with immutable backups: every object version kept under
	// GOVERNANCE retention for a day. Velero's sync controller runs once a
	// minute whatever the BSL's backupSyncPeriod says.
	applyVelero(t, dyn, bslGVR, &velerov1.BackupStorageLocation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "BackupStorageLocation"},
		ObjectMeta: metav1.ObjectMeta{Name: "locked", Namespace: ns},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider:    "example.io/s3compat",
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: locked, Prefix: "cluster-a"}},
			Config:      map[string]string{"s3Url": srv.Endpoint, "objectLockMode": "GOVERNANCE", "objectLockRetention": "24h"},
			Credential:  &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s3compat-credentials"}, Key: "cloud"},
		},
	})
	// A third BSL names a bucket that is not there: Velero marks it
	// Unavailable with the plugin's error, which carries doctor's fix.
	applyVelero(t, dyn, bslGVR, &velerov1.BackupStorageLocation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "BackupStorageLocation"},
		ObjectMeta: metav1.ObjectMeta{Name: "no-bucket", Namespace: ns},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider:    "example.io/s3compat",
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "no-such-bucket", Prefix: "cluster-a"}},
			Config:      map[string]string{"s3Url": srv.Endpoint},
			Credential:  &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s3compat-credentials"}, Key: "cloud"},
		},
	})
	// The CSI controller is reached through a csi-relay, as in a cluster
	// whose driver keeps its controller socket inside its own pod: the
	// README's steps, certificates from `csi-relay certs`, the client's
	// stored as a Secret in Velero's namespace.
	rly := startRelay(t, kube, pluginDir, driver.Endpoint)
	applyVelero(t, dyn, vslGVR, &velerov1.VolumeSnapshotLocation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "VolumeSnapshotLocation"},
		ObjectMeta: metav1.ObjectMeta{Name: "csi", Namespace: ns},
		Spec: velerov1.VolumeSnapshotLocationSpec{Provider: "example.io/csi",
			Config: map[string]string{"driver": driver.Name, "endpoint": "tcp://localhost:" + rly.port,
				"tlsSecretName": "csi-relay-client-tls", "tlsSecretNamespace": ns, "tlsCASecretName": "csi-relay-server-ca"}},
	})
	st.done("csi-relay up (certificates from csi-relay certs); Velero CRDs, BSL, VSL, plugin ConfigMaps applied")

	// Velero's server, out of cluster, with the plugin in its plugin dir.
	dir := t.TempDir()
	serverLog := testenv.StartProcess(t, "velero-server", veleroBin, []string{"server",
		"--kubeconfig", kc, "--namespace", ns, "--plugin-dir", pluginDir, "--log-level", "info",
		"--metrics-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"--profiler-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"--default-volume-snapshot-locations", "example.io/csi:csi",
		"--store-validation-frequency", "10s",
		// Item blocks (each PVC with its PV) are backed up four at a time:
		// the plugin gets concurrent CreateSnapshot calls.
		"--item-block-worker-count", "4",
	}, []string{"VELERO_NAMESPACE=" + ns, "KUBECONFIG=" + kc}, dir)
	for _, name := range []string{"default", "locked"} {
		waitFor(t, 2*time.Minute, "BSL "+name+" Available", func() bool {
			u, err := dyn.Resource(bslGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && nested(u, "status", "phase") == "Available"
		})
	}
	st.done("velero server up, BSLs default and locked (Object Lock) Available")

	// doctor, as a user runs it against the cluster: it reads the BSL, its
	// credential Secret, the age identity Secret and the plugin ConfigMap
	// from the real API server, and every check passes.
	runDoctor := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(pluginDir, "velero-plugin-s3csi"), append([]string{"doctor", "--kubeconfig", kc, "--namespace", ns}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	doctor := func(args ...string) string {
		t.Helper()
		out, err := runDoctor(args...)
		require.NoError(t, err, "doctor %s:\n%s", strings.Join(args, " "), out)
		return out
	}
	report := doctor("--bsl-name", "default")
	assert.Contains(t, report, "settings read from ConfigMap "+ns+"/s3compat-config")
	assert.Contains(t, report, "✓ keys named by the BSL")
	assert.Contains(t, report, "- probe objects removed: nothing is left under cluster-a/.doctor/")
	report = doctor("--vsl-name", "csi")
	assert.Contains(t, report, "✓ TLS with the relay at localhost:"+rly.port)
	assert.Contains(t, report, "the relay accepts the client certificate")
	assert.Contains(t, report, "✓ ListSnapshots")
	st.done("doctor --bsl-name default and --vsl-name csi (through the csi-relay): every check passed")

	// The broken BSL: doctor's ✗ line and the message in Velero's status
	// carry the same fix.
	report, err = runDoctor("--bsl-name", "no-bucket")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, report)
	require.Equal(t, 1, exit.ExitCode(), report)
	_, fix, found := strings.Cut(report, "\n    fix: ")
	require.True(t, found, "doctor gives a fix:\n%s", report)
	fix, _, _ = strings.Cut(fix, "\n")
	assert.Contains(t, fix, "aws s3 mb s3://no-such-bucket")
	var message string
	waitFor(t, time.Minute, "BSL no-bucket Unavailable", func() bool {
		u, err := dyn.Resource(bslGVR).Namespace(ns).Get(ctx, "no-bucket", metav1.GetOptions{})
		if err != nil {
			return false
		}
		message = nested(u, "status", "message")
		return nested(u, "status", "phase") == "Unavailable"
	})
	assert.Contains(t, message, "fix: "+fix, "Velero's status says what doctor says")
	st.done("BSL no-bucket: Unavailable in Velero with doctor's fix in its status: " + message)

	// The application: a ConfigMap, a Secret, a Deployment and a bound PV/PVC on a CSI volume.
	vol := driver.CreateVolume(t, "demo-data", 10<<30)
	require.NoError(t, created(kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app}}, metav1.CreateOptions{})))
	require.NoError(t, created(kube.CoreV1().ConfigMaps(app).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "blue"}}, metav1.CreateOptions{})))
	require.NoError(t, created(kube.CoreV1().Secrets(app).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token"}, StringData: map[string]string{"t": "abc"}}, metav1.CreateOptions{})))
	one := int32(1)
	require.NoError(t, created(kube.AppsV1().Deployments(app).Create(ctx, deployment(app, "web", &one), metav1.CreateOptions{})))
	bindPV(t, kube, driver.Name, appPV{pv: "demo-pv", claim: "data", handle: vol.GetVolumeId()})
	// PVs in two zones, as external-provisioner makes them on a regional
	// cluster: the volume in the zone, the PV's node affinity naming it.
	var zonal []appPV
	for i := range 4 {
		zone := []string{"us-central1-a", "us-central1-b"}[i%2]
		v := driver.CreateVolumeIn(t, fmt.Sprintf("zonal-%d", i), 10<<30, map[string]string{testenv.GCEZoneKey: zone})
		p := appPV{pv: fmt.Sprintf("zonal-pv-%d", i), claim: fmt.Sprintf("zonal-%d", i), handle: v.GetVolumeId(), zone: zone}
		bindPV(t, kube, driver.Name, p)
		zonal = append(zonal, p)
	}
	st.done("application objects and bound PV/PVCs created: demo-pv, and 4 PVs in us-central1-a and us-central1-b")

	// Backup.
	velero("backup", "create", backup, "--include-namespaces", app, "--snapshot-volumes", "--wait")
	phase := waitPhase(t, dyn, backupGVR, backup)
	require.Equal(t, "Completed", phase, "backup phase; server log:\n%s", tailFile(serverLog))
	keys := listKeys(t, srv, "cluster-a/backups/"+backup+"/")
	assert.Contains(t, keys, "cluster-a/backups/"+backup+"/"+backup+".tar.gz")
	assert.Contains(t, keys, "cluster-a/backups/"+backup+"/"+backup+"-logs.gz")
	snaps, err := driver.Control.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
	require.NoError(t, err)
	var snapID string
	for _, e := range snaps.GetEntries() {
		if e.GetSnapshot().GetSourceVolumeId() == vol.GetVolumeId() {
			snapID = e.GetSnapshot().GetSnapshotId()
		}
	}
	require.NotEmpty(t, snapID, "the driver holds a snapshot of the PV's volume")
	for _, p := range zonal {
		var found bool
		for _, e := range snaps.GetEntries() {
			found = found || e.GetSnapshot().GetSourceVolumeId() == p.handle
		}
		assert.True(t, found, "the driver holds a snapshot of %s's volume", p.pv)
	}
	st.done(fmt.Sprintf("backup Completed: %d objects in MinIO, snapshot %s of volume %s in the driver", len(keys), snapID, vol.GetVolumeId()))

	// The contents are an age file in the bucket, the logs are not; `velero
	// backup download` gives the age file, which the age CLI opens with the
	// escrow key (never in the cluster) to a valid tarball.
	encryptedDownload(t, st, srv, velero, escrow, "cluster-a/backups/"+backup+"/"+backup)
	signedObjects(t, st, srv, signKey, "cluster-a/backups/"+backup+"/")

	// verify, as the weekly CronJob runs it but on the one BSL: it reads
	// the BSL, its Secrets and the plugin ConfigMap from the API server,
	// and the backup Velero wrote passes every check, its age encryption
	// opened with the identity Secret and its tarball held to its resource
	// list.
	cmd := exec.Command(filepath.Join(pluginDir, "velero-plugin-s3csi"), "verify", "--kubeconfig", kc, "--namespace", ns, "--bsl-name", "default")
	verified, err := cmd.Output()
	require.NoError(t, err, "verify --bsl-name default:\n%s", verified)
	assert.Contains(t, string(verified), "✓ velero-backup.json: Backup "+backup+", phase Completed")
	assert.Contains(t, string(verified), "✓ objects of a completed backup: 9 of 9 present")
	assert.Contains(t, string(verified), "✓ age encryption of "+backup+".tar.gz: age header with 2 X25519 recipient stanzas; opened by the identity of "+ageKey.Recipient[:12])
	assert.Regexp(t, `✓ items against `+backup+`-resource-list.json.gz: \d+ items of \d+ kinds, each listed and each in the tarball`, string(verified))
	assert.Regexp(t, `✓ signatures: 9 objects signed by minisign key [0-9A-F]{16}, each signature naming its own object`, string(verified))
	assert.Contains(t, string(verified), "backup "+backup+": all 6 checks passed")
	st.done("verify --bsl-name default: the backup Velero wrote passes every check")

	// `velero backup logs` downloads through a signed URL.
	logs := velero("backup", "logs", backup)
	assert.Contains(t, logs, "msg=")
	assert.Contains(t, logs, backup)
	st.done(fmt.Sprintf("velero backup logs downloaded through a signed URL: %d lines", strings.Count(logs, "\n")))

	// Disaster: the application and its volume are gone.
	deleteApp(t, kube, driver, append([]appPV{{pv: "demo-pv", claim: "data", handle: vol.GetVolumeId()}}, zonal...))
	st.done("application objects, PV and volume deleted")

	// Restore.
	velero("restore", "create", "e2e-restore", "--from-backup", backup, "--wait")
	require.Equal(t, "Completed", waitPhase(t, dyn, restoreGVR, "e2e-restore"), "restore phase; server log:\n%s", tailFile(serverLog))
	cm, err := kube.CoreV1().ConfigMaps(app).Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "blue", cm.Data["color"])
	_, err = kube.CoreV1().Secrets(app).Get(ctx, "token", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = kube.AppsV1().Deployments(app).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, "demo-pv", metav1.GetOptions{})
	require.NoError(t, err)
	newVol := pv.Spec.CSI.VolumeHandle
	assert.NotEqual(t, vol.GetVolumeId(), newVol, "the PV points at a new volume")
	server := readFile(t, serverLog)
	assert.Contains(t, server, "volume restored from CSI snapshot")
	assert.Contains(t, server, "driverContentSource="+snapID, "the driver made the new volume from the snapshot")
	st.done(fmt.Sprintf("restore Completed: objects back, PV on new volume %s made from snapshot %s", newVol, snapID))
	for _, p := range zonal {
		pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, p.pv, metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotEqual(t, p.handle, pv.Spec.CSI.VolumeHandle, "%s points at a new volume", p.pv)
		assert.Regexp(t, "^projects/[^/]+/zones/"+p.zone+"/disks/", pv.Spec.CSI.VolumeHandle, "%s: the new volume is in the PV's zone", p.pv)
		require.NotNil(t, pv.Spec.NodeAffinity, p.pv)
		terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
		require.Len(t, terms, 1, p.pv)
		assert.Equal(t, []corev1.NodeSelectorRequirement{{Key: testenv.GCEZoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{p.zone}}},
			terms[0].MatchExpressions, "%s: node affinity on the new volume's zone", p.pv)
	}
	st.done("4 zonal PVs restored, each volume in its PV's zone and node affinity on it")

	forgedRestore(t, st, srv, velero, dyn, kube, pluginDir, kc, ageKey.Recipient, serverLog)

	// Backup deletion removes objects and snapshot.
	velero("backup", "delete", backup, "--confirm")
	waitFor(t, 3*time.Minute, "backup deleted", func() bool {
		_, err := dyn.Resource(backupGVR).Namespace(ns).Get(ctx, backup, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	assert.Empty(t, listKeys(t, srv, "cluster-a/backups/"+backup+"/"), "backup objects removed")
	snaps, err = driver.Control.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: snapID})
	require.NoError(t, err)
	for _, e := range snaps.GetEntries() {
		assert.NotEqual(t, snapID, e.GetSnapshot().GetSnapshotId(), "snapshot removed")
	}
	st.done("velero backup delete: objects and snapshot gone")

	// File-system backups and the CSI data mover keep a kopia repository
	// on the BSL, which Velero reads itself, not through the plugin: for a
	// provider not its own, with its S3 backend when s3Url is set. Velero's
	// repository controller initializes one as it does for a pod volume
	// backup; its objects land under the BSL's prefix.
	repo := app + "-default-kopia"
	applyVelero(t, dyn, repoGVR, &velerov1.BackupRepository{
		TypeMeta: metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "BackupRepository"},
		ObjectMeta: metav1.ObjectMeta{Name: repo, Namespace: ns, Labels: map[string]string{
			"velero.io/volume-namespace": app, "velero.io/storage-location": "default", "velero.io/repository-type": "kopia"}},
		Spec: velerov1.BackupRepositorySpec{VolumeNamespace: app, BackupStorageLocation: "default", RepositoryType: "kopia",
			MaintenanceFrequency: metav1.Duration{Duration: 24 * time.Hour}},
	})
	var repoPhase, repoMsg string
	waitFor(t, 3*time.Minute, "BackupRepository Ready", func() bool {
		u, err := dyn.Resource(repoGVR).Namespace(ns).Get(ctx, repo, metav1.GetOptions{})
		if err == nil {
			repoPhase, repoMsg = nested(u, "status", "phase"), nested(u, "status", "message")
		}
		return repoPhase == "Ready" || repoPhase == "NotReady"
	})
	require.Equal(t, "Ready", repoPhase, "BackupRepository %s: %s; server log:\n%s", repo, repoMsg, tailFile(serverLog))
	kopiaKeys := listKeys(t, srv, "cluster-a/kopia/"+app+"/")
	assert.Contains(t, kopiaKeys, "cluster-a/kopia/"+app+"/kopia.repository", "the kopia repository is under the BSL prefix")
	st.done(fmt.Sprintf("kopia BackupRepository %s Ready on this BSL: %d objects under cluster-a/kopia/%s/", repo, len(kopiaKeys), app))

	immutableBackup(t, st, srv, velero, dyn, kube, pluginDir, creds, serverLog)

	// The plugin's ConfigMap settings reached the plugin, and its lines the server log.
	server = readFile(t, serverLog)
	assert.Contains(t, server, "ConfigMap velero/s3compat-config")
	assert.Contains(t, server, "ConfigMap velero/csi-config")
	assert.NotContains(t, server, srv.SecretKey)
	assert.NotContains(t, server, ageKey.Identity, "no age identity in the server log")
	assert.NotContains(t, server, "AGE-SECRET-KEY-1")
	// ... with the plugin's own file and line as their source, not the
	// host's adapter (the field the plugin server sets for Velero's host).
	assert.Regexp(t, `msg="object store settings[^\n]* logSource="example\.io/velero-plugin-s3csi/[a-z/]+\.go:\d+"`, server)

	// Every CSI call went through the relay, one line each, no bodies.
	relayLog := rly.Text()
	for _, m := range []string{"CreateSnapshot", "CreateVolume", "DeleteSnapshot"} {
		assert.Contains(t, relayLog, "/csi.v1.Controller/"+m, "the relay forwarded %s", m)
	}
	assert.NotContains(t, relayLog, "BEGIN", "no certificate or key material in the relay's log")
	st.done(fmt.Sprintf("csi-relay forwarded %d calls", strings.Count(relayLog, "csi-relay call")))
}

// encryptedDownload checks an encrypted backup's objects in the bucket
// and what `velero backup download` gives: an age file that the age CLI
// opens with key to a gzip tarball of the backed-up resources.
func encryptedDownload(t *testing.T, st *steps, srv *testenv.S3Server, velero func(...string) string, key testenv.AgeKey, base string) {
	ctx := context.Background()
	raw := func(k string) []byte {
		o, err := srv.Client().GetObject(ctx, bucket, k, minio.GetObjectOptions{})
		require.NoError(t, err)
		defer o.Close()
		b, err := io.ReadAll(o)
		require.NoError(t, err, k)
		return b
	}
	require.True(t, bytes.HasPrefix(raw(base+".tar.gz"), []byte("age-encryption.org/v1\n")), "the tarball is stored as an age file")
	require.True(t, bytes.HasPrefix(raw(base+"-logs.gz"), []byte{0x1f, 0x8b}), "the logs are stored as gzip, for velero backup logs")
	dir := t.TempDir()
	file := filepath.Join(dir, "download.tar.gz.age")
	velero("backup", "download", backup, "-o", file)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(got, []byte("age-encryption.org/v1\n")), "velero backup download gives the age file")
	out, err := exec.Command(testenv.Tool(t, "age"), "-d", "-i", key.File, "-o", filepath.Join(dir, "backup.tar.gz"), file).CombinedOutput()
	require.NoError(t, err, "age -d: %s", out)
	f, err := os.Open(filepath.Join(dir, "backup.tar.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the decrypted tarball reads to its end")
		names = append(names, h.Name)
	}
	assert.Contains(t, names, "resources/secrets/namespaces/"+app+"/token.json", "the Secret is in the decrypted tarball")
	st.done(fmt.Sprintf("backup contents stored as an age file; velero backup download + age -d (escrow key) gives a tarball of %d entries", len(names)))
}

// signedObjects checks that every object of the backup under dir has a
// signature beside it that Debian's minisign verifies, naming the object.
func signedObjects(t *testing.T, st *steps, srv *testenv.S3Server, key testenv.MinisignKey, dir string) {
	ctx := context.Background()
	raw := func(k string) []byte {
		o, err := srv.Client().GetObject(ctx, bucket, k, minio.GetObjectOptions{})
		require.NoError(t, err)
		defer o.Close()
		b, err := io.ReadAll(o)
		require.NoError(t, err, k)
		return b
	}
	n := 0
	for o := range srv.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		require.NoError(t, o.Err)
		if strings.HasSuffix(o.Key, ".minisig") {
			continue
		}
		out, err := key.Verify(t, raw(o.Key), raw(o.Key+".minisig"))
		require.NoError(t, err, "minisign -V of %s: %s", o.Key, out)
		assert.Contains(t, out, "Trusted comment: s3csi-v1 key="+strings.TrimPrefix(o.Key, "cluster-a/")+" size=")
		n++
	}
	require.Positive(t, n)
	st.done(fmt.Sprintf("all %d objects of the backup signed; minisign -V verifies each, its trusted comment naming it", n))
}

// immutableBackup backs up to the Object Lock BSL, deletes the backup
// with Velero (delete markers: every version stays), brings it back with
// `velero-plugin-s3csi undelete`, waits for Velero's sync to show it
// again, and restores from it.
func immutableBackup(t *testing.T, st *steps, srv *testenv.S3Server, velero func(...string) string, dyn dynamic.Interface,
	kube kubernetes.Interface, pluginDir, creds, serverLog string) {
	ctx := context.Background()
	const name = "e2e-locked"
	dir := "cluster-a/backups/" + name + "/"
	velero("backup", "create", name, "--storage-location", "locked", "--include-namespaces", app, "--snapshot-volumes=false", "--wait")
	require.Equal(t, "Completed", waitPhase(t, dyn, backupGVR, name), "backup phase; server log:\n%s", tailFile(serverLog))
	stored := map[string]minio.ObjectInfo{}
	for o := range srv.Client().ListObjects(ctx, locked, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		require.NoError(t, o.Err)
		stored[o.Key] = o
	}
	require.Contains(t, stored, dir+"velero-backup.json")
	for key := range stored {
		mode, until, err := srv.Client().GetObjectRetention(ctx, locked, key, "")
		require.NoError(t, err, key)
		require.NotNil(t, mode, key)
		assert.Equal(t, minio.Governance, *mode, key)
		assert.WithinDuration(t, time.Now().Add(24*time.Hour), *until, 10*time.Minute, key)
	}
	st.done(fmt.Sprintf("backup %s Completed on the Object Lock BSL: %d objects, each under GOVERNANCE retention for 24h", name, len(stored)))

	velero("backup", "delete", name, "--confirm")
	waitFor(t, 3*time.Minute, "backup "+name+" deleted", func() bool {
		_, err := dyn.Resource(backupGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	assert.Empty(t, listBucket(t, srv, locked, dir, false), "Velero's view: no objects")
	versions := listBucket(t, srv, locked, dir, true)
	for key := range stored {
		assert.Contains(t, versions, key, "a version of %s is still stored", key)
	}
	st.done(fmt.Sprintf("velero backup delete %s Completed: delete markers only, %d versions still stored", name, len(versions)))

	credsFile := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(credsFile, []byte(creds), 0o600))
	out, err := exec.Command(filepath.Join(pluginDir, "velero-plugin-s3csi"), "undelete", "--bucket", locked, "--prefix", "cluster-a",
		"--backup", name, "--s3-url", srv.Endpoint, "--credentials-file", credsFile).CombinedOutput()
	require.NoError(t, err, string(out))
	for key, o := range stored {
		got, err := srv.Client().StatObject(ctx, locked, key, minio.StatObjectOptions{})
		require.NoError(t, err, key)
		assert.Equal(t, o.ETag, got.ETag, "%s is the version Velero wrote", key)
	}
	waitFor(t, 2*time.Minute, "backup "+name+" synced back", func() bool {
		u, err := dyn.Resource(backupGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && nested(u, "status", "phase") == "Completed"
	})
	st.done(fmt.Sprintf("velero-plugin-s3csi undelete: %d objects back; Velero's sync shows backup %s again", len(stored), name))

	require.NoError(t, kube.CoreV1().ConfigMaps(app).Delete(ctx, "settings", metav1.DeleteOptions{}))
	velero("restore", "create", name+"-restore", "--from-backup", name, "--include-resources", "configmaps", "--wait")
	require.Equal(t, "Completed", waitPhase(t, dyn, restoreGVR, name+"-restore"), "restore phase; server log:\n%s", tailFile(serverLog))
	cm, err := kube.CoreV1().ConfigMaps(app).Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "blue", cm.Data["color"])
	st.done(fmt.Sprintf("restore from the undeleted backup %s Completed", name))
}

// listBucket lists the keys under prefix, the latest ones, or with
// versions every key that has a stored version (delete markers left out).
func listBucket(t *testing.T, srv *testenv.S3Server, bucket, prefix string, versions bool) map[string]bool {
	keys := map[string]bool{}
	for o := range srv.Client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: versions}) {
		require.NoError(t, o.Err)
		if !o.IsDeleteMarker {
			keys[o.Key] = true
		}
	}
	return keys
}

type e2eRelay struct {
	*testenv.Relay
	port string
}

// startRelay runs `velero-plugin-s3csi csi-relay certs` and stores the
// client's files as the Secret the VSL names (the README's kubectl line),
// then runs the built binary's csi-relay with the server's files.
func startRelay(t *testing.T, kube kubernetes.Interface, pluginDir, csiEndpoint string) e2eRelay {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	out, err := exec.Command(filepath.Join(pluginDir, "velero-plugin-s3csi"), "csi-relay", "certs",
		"--server-dns", "localhost", "--out", dir, "--velero-namespace", ns).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "kubectl -n "+ns+" create secret generic csi-relay-client-tls")
	require.Contains(t, string(out), "kubectl -n "+ns+" create secret generic csi-relay-server-ca")
	// The two Secrets in Velero's namespace, as the printed lines make them.
	for name, files := range map[string]map[string]string{
		"csi-relay-client-tls": {"tls.crt": "client.crt", "tls.key": "client.key", "ca.crt": "client-ca.crt"},
		"csi-relay-server-ca":  {"ca.crt": "server-ca.crt"},
	} {
		data := map[string][]byte{}
		for key, file := range files {
			data[key] = []byte(readFile(t, filepath.Join(dir, file)))
		}
		require.NoError(t, created(kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{})))
	}
	port := fmt.Sprint(testenv.FreePort(t))
	certs := &testenv.RelayCerts{Dir: dir, CAFile: filepath.Join(dir, "server-ca.crt"), ClientCAFile: filepath.Join(dir, "client-ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key")}
	return e2eRelay{Relay: testenv.StartRelayProcess(t, csiEndpoint, certs, "127.0.0.1:"+port), port: port}
}

// created fails the test when a create call failed.
func created[T any](_ T, err error) error { return err }

func dynamicClient(t *testing.T, kc string) dynamic.Interface {
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	require.NoError(t, err)
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return d
}

func applyVelero(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj runtime.Object) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(t, err)
	u := &unstructured.Unstructured{Object: m}
	_, err = dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{})
	require.NoError(t, err)
}

func nested(u *unstructured.Unstructured, path ...string) string {
	v, _, _ := unstructured.NestedString(u.Object, path...)
	return v
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitPhase(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, name string) string {
	t.Helper()
	var phase string
	waitFor(t, 5*time.Minute, gvr.Resource+" "+name+" finished", func() bool {
		u, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		phase = nested(u, "status", "phase")
		switch phase {
		case "Completed", "PartiallyFailed", "Failed", "FailedValidation":
			return true
		}
		return false
	})
	return phase
}

func deployment(namespace, name string, replicas *int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example/" + name + ":1"}},
					Volumes: []corev1.Volume{}},
			},
		},
	}
}

// appPV is a PV of the application, its claim and its volume.
type appPV struct {
	pv, claim, handle string
	zone              string // "": no node affinity
}

// bindPV makes a PV and a PVC bound to each other, as the PV controller
// would (no controller manager runs here).
func bindPV(t *testing.T, kube kubernetes.Interface, driver string, p appPV) {
	ctx := context.Background()
	mode := corev1.PersistentVolumeFilesystem
	pv := testenv.CSIPV(p.pv, driver, p.handle, "10Gi", mode)
	pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name = app, p.claim
	if p.zone != "" {
		testenv.WithNodeAffinity(pv, map[string]string{testenv.GCEZoneKey: p.zone})
	}
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	created, err := kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	require.NoError(t, err)
	created.Status.Phase = corev1.VolumeBound
	_, err = kube.CoreV1().PersistentVolumes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: p.claim},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
			VolumeName:  p.pv,
			VolumeMode:  &mode,
		},
	}
	createdPVC, err := kube.CoreV1().PersistentVolumeClaims(app).Create(ctx, pvc, metav1.CreateOptions{})
	require.NoError(t, err)
	createdPVC.Status.Phase = corev1.ClaimBound
	createdPVC.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}
	createdPVC.Status.AccessModes = pvc.Spec.AccessModes
	_, err = kube.CoreV1().PersistentVolumeClaims(app).UpdateStatus(ctx, createdPVC, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// deleteApp removes the namespace's objects one by one (no namespace
// controller runs here), the PVs, and their volumes on the driver.
func deleteApp(t *testing.T, kube kubernetes.Interface, driver *testenv.CSIDriver, pvs []appPV) {
	ctx := context.Background()
	require.NoError(t, kube.CoreV1().ConfigMaps(app).Delete(ctx, "settings", metav1.DeleteOptions{}))
	require.NoError(t, kube.CoreV1().Secrets(app).Delete(ctx, "token", metav1.DeleteOptions{}))
	require.NoError(t, kube.AppsV1().Deployments(app).Delete(ctx, "web", metav1.DeleteOptions{}))
	for _, p := range pvs {
		require.NoError(t, kube.CoreV1().PersistentVolumeClaims(app).Delete(ctx, p.claim, metav1.DeleteOptions{}))
		require.NoError(t, kube.CoreV1().PersistentVolumes().Delete(ctx, p.pv, metav1.DeleteOptions{}))
		// The protection finalizers are removed by controllers that do not run here.
		if pvc, err := kube.CoreV1().PersistentVolumeClaims(app).Get(ctx, p.claim, metav1.GetOptions{}); err == nil {
			pvc.Finalizers = nil
			_, err = kube.CoreV1().PersistentVolumeClaims(app).Update(ctx, pvc, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
		if pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, p.pv, metav1.GetOptions{}); err == nil {
			pv.Finalizers = nil
			_, err = kube.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
	}
	waitFor(t, time.Minute, "PVs and PVCs gone", func() bool {
		for _, p := range pvs {
			_, e1 := kube.CoreV1().PersistentVolumeClaims(app).Get(ctx, p.claim, metav1.GetOptions{})
			_, e2 := kube.CoreV1().PersistentVolumes().Get(ctx, p.pv, metav1.GetOptions{})
			if !apierrors.IsNotFound(e1) || !apierrors.IsNotFound(e2) {
				return false
			}
		}
		return true
	})
	for _, p := range pvs {
		_, err := driver.Control.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: p.handle})
		require.NoError(t, err)
	}
}

func listKeys(t *testing.T, srv *testenv.S3Server, prefix string) []string {
	var keys []string
	for o := range srv.Client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		require.NoError(t, o.Err)
		keys = append(keys, o.Key)
	}
	return keys
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

func tailFile(p string) string {
	b, _ := os.ReadFile(filepath.Clean(p))
	return testenv.Tail(b, 8000)
}

// forgedRestore replaces the backup's tarball in MinIO with a forged one,
// as whoever can write to the bucket could: a valid age file (to the BSL's
// own public recipient) of a valid tarball holding a ConfigMap of theirs.
// The restore fails at the tarball's end, before anything is applied, and
// verify names the backup and the signature.
func forgedRestore(t *testing.T, st *steps, srv *testenv.S3Server, velero func(...string) string, dyn dynamic.Interface,
	kube kubernetes.Interface, pluginDir, kc, recipient, serverLog string) {
	t.Helper()
	ctx := context.Background()
	forged := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "forged", "namespace": app}, "data": map[string]string{"owner": "attacker"}}
	item, err := json.Marshal(forged)
	require.NoError(t, err)
	var plain bytes.Buffer
	gz := gzip.NewWriter(&plain)
	tw := tar.NewWriter(gz)
	for name, body := range map[string][]byte{"metadata/version": []byte("1.1.0\n"),
		"resources/configmaps/namespaces/" + app + "/forged.json":                     item,
		"resources/configmaps/v1-preferredversion/namespaces/" + app + "/forged.json": item} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(body)), Typeflag: tar.TypeReg, Mode: 0o755}))
		_, err = tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	r, err := age.ParseX25519Recipient(recipient)
	require.NoError(t, err)
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, r)
	require.NoError(t, err)
	_, err = w.Write(plain.Bytes())
	require.NoError(t, err)
	require.NoError(t, w.Close())
	key := "cluster-a/backups/" + backup + "/" + backup + ".tar.gz"
	o, err := srv.Client().GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	original, err := io.ReadAll(o)
	require.NoError(t, err)
	_, err = srv.Client().PutObject(ctx, bucket, key, bytes.NewReader(sealed.Bytes()), int64(sealed.Len()), minio.PutObjectOptions{})
	require.NoError(t, err)
	// The real tarball goes back afterwards: Velero's backup deletion
	// reads it too (for its DeleteItemActions), and refuses a forged one.
	defer func() {
		_, err := srv.Client().PutObject(ctx, bucket, key, bytes.NewReader(original), int64(len(original)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}()

	velero("restore", "create", "e2e-forged", "--from-backup", backup, "--wait")
	phase := waitPhase(t, dyn, restoreGVR, "e2e-forged")
	assert.Contains(t, []string{"Failed", "PartiallyFailed"}, phase, "restore of a forged tarball; server log:\n%s", tailFile(serverLog))
	_, err = kube.CoreV1().ConfigMaps(app).Get(ctx, "forged", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing of the forged tarball is created: %v", err)
	assert.Contains(t, readFile(t, serverLog), backup+".tar.gz.minisig", "the server log names the signature that failed")

	cmd := exec.Command(filepath.Join(pluginDir, "velero-plugin-s3csi"), "verify", "--kubeconfig", kc, "--namespace", ns, "--bsl-name", "default", "--backup", backup)
	out, err := cmd.Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "verify fails: %s", out)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), "✗ signatures: "+backup+".tar.gz: the signature does not verify: the data is not what key ")
	assert.Contains(t, string(out), "✗ items against "+backup+"-resource-list.json.gz: the tarball holds 1 items the resource list does not name: v1/ConfigMap "+app+"/forged")
	assert.Contains(t, string(out), "backup "+backup+": 2 of 6 checks failed")
	st.done("a forged tarball (a valid age file to the BSL's recipient) in MinIO: restore " + phase + ", nothing of it created; verify names the backup")
}
