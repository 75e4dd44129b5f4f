package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// metaObject is one object of a backup as Velero v1.18.3 writes it: its
// key's suffix after backups/<name>/ ({name} stands for the name) and body.
type metaObject struct {
	suffix string
	body   []byte
}

// backupObjects are the PutObject calls of one backup without
// asynchronous operations, in Velero v1.18.3's order: PutBackup
// (pkg/persistence/object_store.go) writes the log, velero-backup.json,
// the tarball, then the six lists of its map literal (in Go's random map
// order; here in the literal's order), and the backup finalizer
// (pkg/controller/backup_finalizer_controller.go) writes
// velero-backup.json again, Completed. Bodies are gzip or JSON as
// Velero's encode.To and encode.ToJSONGzip make them, of a small
// namespace's sizes: a 1.5 KiB backup JSON, a log of 2,000 lines, a
// tarball of 150 resources.
func backupObjects() []metaObject {
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	return []metaObject{
		{"{name}-logs.gz", gz(logText(rng, 2000))},
		{"velero-backup.json", backupJSON(velerov1.BackupPhaseFinalizing)},
		{"{name}.tar.gz", tarball(rng, 150)},
		{"{name}-podvolumebackups.json.gz", gz([]byte("null\n"))},
		{"{name}-volumesnapshots.json.gz", gz([]byte("null\n"))},
		{"{name}-itemoperations.json.gz", gz([]byte("null\n"))},
		{"{name}-resource-list.json.gz", gz(resourceList(rng, 150))},
		{"{name}-results.gz", gz([]byte(`{"errors":{},"warnings":{"namespaces":{"app":["a warning about a resource"]}}}` + "\n"))},
		{"{name}-volumeinfo.json.gz", gz([]byte("[]\n"))},
		{"velero-backup.json", backupJSON(velerov1.BackupPhaseCompleted)},
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// backupJSON is a Backup as Velero stores it in velero-backup.json.
func backupJSON(phase velerov1.BackupPhase) []byte {
	now := metav1.NewTime(time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC))
	ttl := metav1.Duration{Duration: 720 * time.Hour}
	b := velerov1.Backup{
		TypeMeta: metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "Backup"},
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-20261206210000", Namespace: "velero", UID: "5f0c3b1e-8a4d-4c2f-9b7e-1d2c3b4a5f6e",
			Labels:            map[string]string{"velero.io/schedule-name": "nightly", "velero.io/storage-location": "default"},
			Annotations:       map[string]string{"velero.io/resource-timeout": "10m0s", "velero.io/source-cluster-k8s-gitversion": "v1.33.4", "velero.io/source-cluster-k8s-major-version": "1", "velero.io/source-cluster-k8s-minor-version": "33"},
			CreationTimestamp: now, Generation: 1, ResourceVersion: "123456"},
		Spec: velerov1.BackupSpec{IncludedNamespaces: []string{"app"}, TTL: ttl, StorageLocation: "default", VolumeSnapshotLocations: []string{"default"},
			CSISnapshotTimeout: metav1.Duration{Duration: 10 * time.Minute}, ItemOperationTimeout: metav1.Duration{Duration: 4 * time.Hour},
			Hooks: velerov1.BackupHooks{}, DefaultVolumesToFsBackup: new(bool), SnapshotMoveData: new(bool)},
		Status: velerov1.BackupStatus{Version: 1, FormatVersion: "1.1.0", Phase: phase, StartTimestamp: &now, CompletionTimestamp: &now,
			Expiration: &metav1.Time{Time: now.Add(720 * time.Hour)}, Progress: &velerov1.BackupProgress{TotalItems: 150, ItemsBackedUp: 150},
			VolumeSnapshotsAttempted: 2, VolumeSnapshotsCompleted: 2, Warnings: 1, HookStatus: &velerov1.HookStatus{}},
	}
	out, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return append(out, '\n')
}

// logText is n lines of Velero's backup log.
func logText(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	kinds := []string{"pods", "configmaps", "secrets", "services", "deployments.apps", "replicasets.apps", "persistentvolumeclaims", "serviceaccounts"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "time=\"2026-12-06T21:00:%02dZ\" level=info msg=\"Processing item\" backup=velero/nightly-20261206210000 logSource=\"pkg/backup/backup.go:%d\" name=app-%x namespace=app progress= resource=%s\n",
			i%60, 400+rng.IntN(300), rng.Uint32(), kinds[rng.IntN(len(kinds))])
	}
	return b.Bytes()
}

// tarball is a backup tarball of n resources' JSON.
func tarball(rng *rand.Rand, n int) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := 0; i < n; i++ {
		body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app-%x","namespace":"app","uid":"%x-%x","resourceVersion":"%d","labels":{"app":"web","tier":"frontend"},"annotations":{"checksum":"%x%x"}},"data":{"config.yaml":"%x"}}`,
			rng.Uint32(), rng.Uint64(), rng.Uint64(), rng.IntN(1e6), rng.Uint64(), rng.Uint64(), bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, 200+rng.IntN(800)))
		_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("resources/configmaps/namespaces/app/app-%d.json", i), Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)})
		_, _ = tw.Write(body)
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// resourceList is the backup's resource list: kind to namespace/names.
func resourceList(rng *rand.Rand, n int) []byte {
	list := map[string][]string{}
	for i := 0; i < n; i++ {
		kind := []string{"v1/ConfigMap", "v1/Secret", "v1/Pod", "apps/v1/Deployment"}[i%4]
		list[kind] = append(list[kind], fmt.Sprintf("app/app-%x", rng.Uint32()))
	}
	out, _ := json.Marshal(list)
	return append(out, '\n')
}
