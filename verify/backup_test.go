package verify_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"path"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/objectstore"
)

// item is a Kubernetes object in a backup.
type item struct {
	apiVersion, kind, resource, namespace, name string
}

// defaultItems are a namespace, a pod and a deployment in it, and a
// cluster-scoped PV: the shapes Velero's archive has.
var defaultItems = []item{
	{"v1", "Namespace", "namespaces", "", "ns1"},
	{"v1", "Pod", "pods", "ns1", "pod1"},
	{"apps/v1", "Deployment", "deployments.apps", "ns1", "web"},
	{"v1", "PersistentVolume", "persistentvolumes", "", "pv1"},
}

// backupSpec says what writeBackup writes.
type backupSpec struct {
	name    string
	phase   string // default Completed
	expires time.Time
	items   []item
	listed  []item // the resource list; default items
}

// itemJSON is an item's file as Velero writes it: the object's JSON.
func itemJSON(it item, spec string) []byte {
	meta := map[string]any{"name": it.name}
	if it.namespace != "" {
		meta["namespace"] = it.namespace
	}
	data, _ := json.Marshal(map[string]any{"apiVersion": it.apiVersion, "kind": it.kind, "metadata": meta, "spec": json.RawMessage(spec)})
	return data
}

// tarball is a backup's <name>.tar.gz in Velero's layout
// (pkg/backup/backup.go, item_backupper.go, pkg/archive): metadata/version,
// then each item twice, without a version folder and under
// <version>-preferredversion, as Velero writes an item of its preferred
// version.
func tarball(t *testing.T, items []item) []byte { return tarballWith(t, items, `{}`) }

// tarballWith is a tarball whose items have spec.
func tarballWith(t *testing.T, items []item, spec string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	put := func(name string, body []byte) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(body)), Typeflag: tar.TypeReg, Mode: 0o755, ModTime: at}))
		_, err := tw.Write(body)
		require.NoError(t, err)
	}
	put("metadata/version", []byte("1.1.0\n"))
	for _, it := range items {
		version := path.Base(it.apiVersion)
		scope := "cluster"
		if it.namespace != "" {
			scope = "namespaces/" + it.namespace
		}
		for _, dir := range []string{"", version + "-preferredversion/"} {
			put(fmt.Sprintf("resources/%s/%s%s/%s.json", it.resource, dir, scope, it.name), itemJSON(it, spec))
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// resourceList is <name>-resource-list.json.gz: {"v1/Pod": ["ns1/pod1"]}.
func resourceList(items []item) map[string][]string {
	list := map[string][]string{}
	for _, it := range items {
		n := it.name
		if it.namespace != "" {
			n = it.namespace + "/" + n
		}
		list[it.apiVersion+"/"+it.kind] = append(list[it.apiVersion+"/"+it.kind], n)
	}
	return list
}

// jsonGzip is encode.ToJSONGzip: JSON and a newline, gzipped.
func jsonGzip(t *testing.T, v any) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	require.NoError(t, json.NewEncoder(gz).Encode(v))
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// backupObjects are the objects Velero's PutBackup writes for a completed
// backup, by base name, with their bodies.
func backupObjects(t *testing.T, b backupSpec) map[string][]byte {
	if b.phase == "" {
		b.phase = "Completed"
	}
	if b.items == nil {
		b.items = defaultItems
	}
	if b.listed == nil {
		b.listed = b.items
	}
	if b.expires.IsZero() {
		b.expires = time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC)
	}
	meta, err := json.Marshal(map[string]any{
		"kind": "Backup", "apiVersion": "velero.io/v1",
		"metadata": map[string]any{"name": b.name, "namespace": "velero"},
		"spec":     map[string]any{"ttl": "720h0m0s", "storageLocation": "default"},
		"status": map[string]any{"version": 1, "formatVersion": "1.1.0", "phase": b.phase,
			"expiration": b.expires.Format(time.RFC3339), "itemsBackedUp": len(b.items), "totalItems": len(b.items)},
	})
	require.NoError(t, err)
	var logs bytes.Buffer
	gz := gzip.NewWriter(&logs)
	fmt.Fprintf(gz, "time=\"2026-12-06T10:00:00Z\" level=info msg=\"Backed up a total of %d items\" backup=velero/%s\n", len(b.items), b.name)
	require.NoError(t, gz.Close())
	return map[string][]byte{
		"velero-backup.json":                 meta,
		b.name + ".tar.gz":                   tarball(t, b.items),
		b.name + "-logs.gz":                  logs.Bytes(),
		b.name + "-resource-list.json.gz":    jsonGzip(t, resourceList(b.listed)),
		b.name + "-results.gz":               jsonGzip(t, map[string]any{"errors": map[string]any{}, "warnings": map[string]any{}}),
		b.name + "-volumeinfo.json.gz":       jsonGzip(t, []any{}),
		b.name + "-podvolumebackups.json.gz": jsonGzip(t, nil),
		b.name + "-volumesnapshots.json.gz":  jsonGzip(t, nil),
		b.name + "-itemoperations.json.gz":   jsonGzip(t, []any{}),
	}
}

// writeBackup writes a backup through the plugin's store, as Velero's
// server does through the plugin: encryption and Object Lock apply.
func writeBackup(t *testing.T, s *objectstore.Store, bucket, prefix string, b backupSpec) map[string][]byte {
	t.Helper()
	objs := backupObjects(t, b)
	for base, body := range objs {
		require.NoError(t, s.PutObject(bucket, path.Join(prefix, "backups", b.name, base), bytes.NewReader(body)))
	}
	return objs
}
