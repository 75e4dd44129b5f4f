package verify

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestItemPath(t *testing.T) {
	for _, c := range []struct {
		entry, ns, name string
		item            bool
		bad             bool
	}{
		{"resources/pods/namespaces/ns1/pod1.json", "ns1", "pod1", true, false},
		{"resources/pods/v1-preferredversion/namespaces/ns1/pod1.json", "ns1", "pod1", true, false},
		{"resources/horizontalpodautoscalers.autoscaling/v2/namespaces/ns1/h.json", "ns1", "h", true, false},
		{"resources/namespaces/cluster/ns1.json", "", "ns1", true, false},
		{"resources/namespaces/v1-preferredversion/cluster/ns1.json", "", "ns1", true, false},
		{"resources/persistentvolumes/cluster/pv1.json", "", "pv1", true, false},
		{"./resources/pods/namespaces/ns1/pod1.json", "ns1", "pod1", true, false},
		{"metadata/version", "", "", false, false},
		{"resources/pods/namespaces/ns1/pod1.txt", "", "", false, true},
		{"resources/pods/pod1.json", "", "", false, true},
		{"resources/pods/v1/v2/namespaces/ns1/pod1.json", "", "", false, true},
		{"resources/pods/namespaces/ns1/.json", "", "", false, true},
	} {
		ns, name, item, why := itemPath(c.entry)
		assert.Equal(t, c.item, item, c.entry)
		assert.Equal(t, c.ns, ns, c.entry)
		assert.Equal(t, c.name, name, c.entry)
		assert.Equal(t, c.bad, why != "", "%s: %s", c.entry, why)
	}
}

// gzipTar writes files in the order of their names, as Velero writes an
// item's plain path before its version folder's copy: a map's order
// would make "the first entry that holds it" a coin toss.
func gzipTar(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(body)), Typeflag: tar.TypeReg, Mode: 0o644}))
		_, _ = tw.Write([]byte(body))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func TestReadArchive(t *testing.T) {
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod1","namespace":"ns1"}}`
	good := gzipTar(t, map[string]string{"resources/pods/namespaces/ns1/pod1.json": pod, "resources/pods/v1-preferredversion/namespaces/ns1/pod1.json": pod})
	a, err := readArchive(bytes.NewReader(good))
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]string{"v1/Pod": {"ns1/pod1": "resources/pods/namespaces/ns1/pod1.json"}}, a.items, "the two copies are one item")

	crc := bytes.Clone(good)
	crc[len(crc)-6] ^= 1 // in the gzip trailer's CRC-32
	_, err = readArchive(bytes.NewReader(crc))
	assert.ErrorContains(t, err, "the gzip checksum does not match: the object was altered")

	_, err = readArchive(bytes.NewReader(append(bytes.Clone(good), good...)))
	assert.EqualError(t, err, "has data after its gzip stream: Velero writes one")

	_, err = readArchive(bytes.NewReader(good[:len(good)-4]))
	assert.ErrorIs(t, err, errTruncated)

	_, err = readArchive(bytes.NewReader([]byte("PK\x03\x04 a zip")))
	assert.ErrorContains(t, err, "is not gzip")

	moved := gzipTar(t, map[string]string{"resources/pods/namespaces/ns2/pod9.json": pod, "resources/pods/namespaces/ns1/x.json": `{"kind":"Pod"}`})
	a, err = readArchive(bytes.NewReader(moved))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"resources/pods/namespaces/ns2/pod9.json: holds ns1/pod1", "resources/pods/namespaces/ns1/x.json: no apiVersion or kind"}, a.bad)
	_, err = describeArchive(&tarball{archive: a})
	assert.ErrorContains(t, err, "entries that are not Velero's: ")
}

func TestCompareItems(t *testing.T) {
	a := &archive{items: map[string]map[string]string{"v1/Pod": {"ns1/a": "", "ns1/b": ""}, "v1/Namespace": {"ns1": ""}}}
	missing, extra, listed := compareItems(a, map[string][]string{"v1/Pod": {"ns1/a", "ns1/c"}, "v1/Namespace": {"ns1"}})
	assert.Equal(t, []string{"v1/Pod ns1/c"}, missing)
	assert.Equal(t, []string{"v1/Pod ns1/b"}, extra)
	assert.Equal(t, 3, listed)
	_, err := describeItems(a, map[string][]string{"v1/Pod": {"ns1/a", "ns1/b", "ns1/c"}, "v1/Namespace": {"ns1"}}, "PartiallyFailed")
	assert.NoError(t, err, "a PartiallyFailed backup lists items whose backup failed")
	_, err = describeItems(a, map[string][]string{"v1/Pod": {"ns1/a", "ns1/b", "ns1/c"}, "v1/Namespace": {"ns1"}}, "Completed")
	assert.ErrorContains(t, err, "1 listed items are not in the tarball: v1/Pod ns1/c")
}
