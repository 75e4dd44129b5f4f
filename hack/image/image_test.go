package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the tests build: fixed, so the labels can be checked.
var testOptions = options{
	Src:      filepath.Join("..", ".."),
	Go:       "go",
	Version:  "v0.0.0-test",
	Revision: "0123456789abcdef0123456789abcdef01234567",
	Source:   defaultSource,
	Created:  time.Unix(1700000000, 0).UTC(),
}

// One build of the archive serves every test of the package; it is the
// costly part (two cross-compiles, two gzips of the binary).
var shared struct {
	once   sync.Once
	dir    string
	digest v1.Hash
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// builtArchive builds the archive as `make image` does, once, and returns
// its path and index digest.
func builtArchive(t *testing.T) (string, v1.Hash) {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "s3csi-image-test-"); shared.err == nil {
			shared.digest, shared.err = buildArchive(filepath.Join(shared.dir, "image.tar"))
		}
	})
	require.NoError(t, shared.err)
	return filepath.Join(shared.dir, "image.tar"), shared.digest
}

func buildArchive(path string) (v1.Hash, error) {
	idx, err := build(context.Background(), testOptions)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := writeArchive(path, idx, testOptions.Created); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// openArchive reads the archive back through go-containerregistry.
func openArchive(t *testing.T, path string) v1.ImageIndex {
	t.Helper()
	idx, done, err := readArchive(path)
	require.NoError(t, err)
	t.Cleanup(done)
	return idx
}

// The archive read back: an OCI index of linux/amd64 and linux/arm64,
// each image FROM scratch with one layer holding one file, the static
// binary for its architecture, run as 65532 in install mode, labelled.
func TestArchiveLayout(t *testing.T) {
	path, digest := builtArchive(t)
	idx := openArchive(t, path)
	require.NoError(t, validate.Index(idx), "every blob matches its digest, every config its layers")
	d, err := idx.Digest()
	require.NoError(t, err)
	assert.Equal(t, digest, d)
	mt, err := idx.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for i, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			desc := im.Manifests[i]
			require.NotNil(t, desc.Platform)
			assert.Equal(t, v1.Platform{OS: "linux", Architecture: arch}, *desc.Platform)
			assert.Equal(t, types.OCIManifestSchema1, desc.MediaType)
			img, err := idx.Image(desc.Digest)
			require.NoError(t, err)
			m, err := img.Manifest()
			require.NoError(t, err)
			assert.Equal(t, types.OCIConfigJSON, m.Config.MediaType)
			require.Len(t, m.Layers, 1)
			assert.Equal(t, types.OCILayer, m.Layers[0].MediaType)

			cf, err := img.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, "linux", cf.OS)
			assert.Equal(t, arch, cf.Architecture)
			assert.Equal(t, "65532:65532", cf.Config.User)
			assert.Equal(t, []string{"/plugins/velero-plugin-s3csi", "install", "--target", "/target"}, cf.Config.Entrypoint)
			assert.Empty(t, cf.Config.Cmd)
			assert.Equal(t, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cf.Config.Env,
				"the PATH a Dockerfile engine gives an image FROM scratch, and nothing else")
			assert.Equal(t, map[string]string{
				"org.opencontainers.image.source":   "https://example.io/velero-plugin-s3csi",
				"org.opencontainers.image.version":  "v0.0.0-test",
				"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
				"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
			}, cf.Config.Labels)
			assert.True(t, cf.Created.Equal(testOptions.Created), cf.Created.String())

			entries, bin := layerEntries(t, img)
			assert.Equal(t, []string{"plugins/ dir 040755 0:0", "plugins/velero-plugin-s3csi file 0100755 0:0"}, entries,
				"one file: the binary (and its folder)")
			f, err := elf.NewFile(bytes.NewReader(bin))
			require.NoError(t, err)
			assert.Equal(t, machines[arch], f.Machine)
			for _, p := range f.Progs {
				assert.NotEqual(t, elf.PT_INTERP, p.Type, "static: the image has no loader")
			}
		})
	}
}

// layerEntries lists the only layer's entries as "name type mode uid:gid"
// (the mode as written, with the type bits)
// (checking each is dated Created) and returns the binary's bytes.
func layerEntries(t *testing.T, img v1.Image) ([]string, []byte) {
	t.Helper()
	var entries []string
	var bin []byte
	eachEntry(t, onlyLayer(t, img), func(h *tar.Header, body io.Reader) {
		kind := map[byte]string{tar.TypeDir: "dir", tar.TypeReg: "file"}[h.Typeflag]
		if kind == "" {
			kind = string(h.Typeflag)
		}
		entries = append(entries, fmt.Sprintf("%s %s %#o %d:%d", h.Name, kind, h.Mode, h.Uid, h.Gid))
		assert.True(t, h.ModTime.Equal(testOptions.Created), "%s dated %s", h.Name, h.ModTime)
		if h.Typeflag == tar.TypeReg {
			var err error
			bin, err = io.ReadAll(body)
			require.NoError(t, err)
		}
	})
	return entries, bin
}

// onlyLayer is the image's one layer, uncompressed; it is closed when the
// test ends.
func onlyLayer(t *testing.T, img v1.Image) io.Reader {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	t.Cleanup(func() { rc.Close() })
	return rc
}

// eachEntry calls f with each entry of the tar stream r, in order.
func eachEntry(t *testing.T, r io.Reader, f func(h *tar.Header, body io.Reader)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		f(h, tr)
	}
}

// Two builds of the same sources give the same index digest and the same
// archive, byte for byte.
func TestBuildIsReproducible(t *testing.T) {
	first, digest := builtArchive(t)
	second := filepath.Join(t.TempDir(), "image.tar")
	d, err := buildArchive(second)
	require.NoError(t, err)
	assert.Equal(t, digest, d, "index digest")
	assert.Equal(t, fileSum(t, first), fileSum(t, second), "archive bytes")

	// The archive's own entries are sorted, dated and owned by root.
	f, err := os.Open(second)
	require.NoError(t, err)
	defer f.Close()
	var names []string
	eachEntry(t, f, func(h *tar.Header, _ io.Reader) {
		names = append(names, h.Name)
		assert.True(t, h.ModTime.Equal(testOptions.Created), "%s dated %s", h.Name, h.ModTime)
		assert.Equal(t, 0, h.Uid+h.Gid, h.Name)
	})
	assert.IsNonDecreasing(t, names)
	assert.Equal(t, []string{"blobs/", "blobs/sha256/"}, names[:2])
	assert.Equal(t, []string{"index.json", "oci-layout"}, names[len(names)-2:])
	assert.Len(t, names, 2+1+2*3+2, "folders, the index, per image a manifest, a config and a layer, index.json, oci-layout")
}

func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

func TestSourceDateEpoch(t *testing.T) {
	for _, tc := range []struct {
		name, env, commit string
		want              int64
		err               string
	}{
		{name: "from the environment", env: "1700000000", commit: "1600000000", want: 1700000000},
		{name: "commit time by default", commit: "1600000000", want: 1600000000},
		{name: "1970 outside git", want: 0},
		{name: "not a number", env: "yesterday", err: `invalid value for SOURCE_DATE_EPOCH: "yesterday" is not a count of seconds since 1970`},
		{name: "negative", env: "-1", err: `invalid value for SOURCE_DATE_EPOCH: "-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sourceDateEpoch(tc.env, tc.commit)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Unix())
			assert.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestBuildRejectsABadVersion(t *testing.T) {
	o := testOptions
	o.Version = "v1 -X main.other=x"
	_, err := build(context.Background(), o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid value for "version": "v1 -X main.other=x"`)
}
