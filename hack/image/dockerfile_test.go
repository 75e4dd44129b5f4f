package main

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// The top-level Dockerfile, built with buildah for both platforms as
// `docker buildx build --platform linux/amd64,linux/arm64` builds it, is
// the image `make image` builds. No golang image can be pulled here, so
// its binaries stage is replaced by the very binaries of make image's
// archive (--build-context binaries=DIR): what is compared is everything
// the Dockerfile itself makes of them.
//
// Compared per platform: the config (os, architecture, user, entrypoint,
// cmd, env, working folder, labels, created), the layer's entries (name,
// type, mode, owner, time, file bytes) and the layer's digest as the
// config names it (rootfs.diff_ids: the digest of the uncompressed tar),
// which matches, byte for byte.
//
// Not compared, because they cannot match:
//   - the compressed layer blob, and so the manifest and index digests:
//     buildah compresses through containers/image with klauspost/pgzip
//     (deflate in parallel 1 MiB blocks), go-containerregistry with Go's
//     compress/gzip in one pass; two encoders give two different gzip
//     streams of the same tar (for amd64 here 11.5 MB against 11.1 MB),
//     each valid, and neither engine lets a Dockerfile choose the encoder.
//     The test logs both digests.
//   - the config's history (each engine writes its own created_by lines)
//     and buildah's own manifest annotations (org.opencontainers.image.base.*),
//     so the config digests differ too.
func TestDockerfileBuildsTheSameImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("buildah builds here with vfs storage and chroot isolation, which needs root: run it as root (CI does)")
	}
	buildah := testenv.Tool(t, "buildah")
	path, _ := builtArchive(t)
	want := openArchive(t, path)

	// The binaries stage as the compile stage lays it out.
	bins := t.TempDir()
	for _, arch := range architectures {
		writeBinary(t, imageFor(t, want, arch), filepath.Join(bins, "linux-"+arch, binName))
	}
	dir := t.TempDir()
	store := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(buildah, append(append([]string{}, store...), args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "buildah %s:\n%s", strings.Join(args, " "), out)
	}
	dockerfile, err := filepath.Abs(filepath.Join(testOptions.Src, "Dockerfile"))
	require.NoError(t, err)
	empty := t.TempDir() // the main context: the last stage reads nothing from it
	const list = "localhost/s3csi-dockerfile-test"
	run("bud", "--isolation", "chroot", "--identity-label=false",
		"--timestamp", strconv.FormatInt(testOptions.Created.Unix(), 10),
		"--platform", "linux/amd64,linux/arm64", "--manifest", list,
		"--build-context", "binaries="+bins,
		"--build-arg", "VERSION="+testOptions.Version, "--build-arg", "REVISION="+testOptions.Revision,
		"--build-arg", "CREATED="+testOptions.Created.Format(time.RFC3339),
		"-f", dockerfile, empty)
	oci := filepath.Join(dir, "oci")
	run("manifest", "push", "--all", list, "oci:"+oci)

	top, err := layout.ImageIndexFromPath(oci)
	require.NoError(t, err)
	tm, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, tm.Manifests, 1, "the layout holds the pushed list")
	got, err := top.ImageIndex(tm.Manifests[0].Digest)
	require.NoError(t, err)
	gm, err := got.IndexManifest()
	require.NoError(t, err)
	var platforms []string
	for _, d := range gm.Manifests {
		require.NotNil(t, d.Platform)
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, platforms, "one image per platform, nothing else")

	for _, arch := range architectures {
		t.Run(arch, func(t *testing.T) {
			w, g := imageFor(t, want, arch), imageFor(t, got, arch)
			wc, err := w.ConfigFile()
			require.NoError(t, err)
			gc, err := g.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, wc.OS, gc.OS)
			assert.Equal(t, wc.Architecture, gc.Architecture)
			assert.True(t, wc.Created.Equal(gc.Created.Time), "created %s, make image %s", gc.Created, wc.Created)
			assert.Equal(t, wc.Config.User, gc.Config.User)
			assert.Equal(t, wc.Config.Entrypoint, gc.Config.Entrypoint)
			assert.Equal(t, wc.Config.Cmd, gc.Config.Cmd)
			assert.Equal(t, wc.Config.Env, gc.Config.Env)
			assert.Equal(t, wc.Config.WorkingDir, gc.Config.WorkingDir)
			assert.Equal(t, wc.Config.Labels, gc.Config.Labels)

			assert.Equal(t, layerFiles(t, w), layerFiles(t, g), "the layer's entries and file bytes")
			assert.Equal(t, wc.RootFS.DiffIDs, gc.RootFS.DiffIDs, "the layer's digest (uncompressed), as the config names it")

			wl, gl := onlyLayerDescriptor(t, w), onlyLayerDescriptor(t, g)
			assert.Equal(t, wl.MediaType, gl.MediaType)
			t.Logf("linux/%s: layer diff_id %s in both; gzip blob %s (make image, compress/gzip) and %s (buildah, pgzip)",
				arch, wc.RootFS.DiffIDs[0], wl.Digest, gl.Digest)
		})
	}
}

// writeBinary writes the binary of the image's only layer to path, with
// the mode the layer gives it.
func writeBinary(t *testing.T, img v1.Image, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	found := false
	eachEntry(t, onlyLayer(t, img), func(h *tar.Header, body io.Reader) {
		if h.Typeflag != tar.TypeReg {
			return
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode).Perm())
		require.NoError(t, err)
		_, err = io.Copy(f, body)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.NoError(t, os.Chmod(path, os.FileMode(h.Mode).Perm()))
		found = true
	})
	require.True(t, found, "the layer has a file")
}

// layerFiles lists the only layer's entries as "name type mode uid:gid
// unix-time sha256-of-body".
func layerFiles(t *testing.T, img v1.Image) []string {
	t.Helper()
	var out []string
	eachEntry(t, onlyLayer(t, img), func(h *tar.Header, body io.Reader) {
		s := sha256.New()
		_, err := io.Copy(s, body)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%s %c %#o %d:%d %d %x", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.Unix(), s.Sum(nil)))
	})
	return out
}

func onlyLayerDescriptor(t *testing.T, img v1.Image) v1.Descriptor {
	t.Helper()
	m, err := img.Manifest()
	require.NoError(t, err)
	require.Len(t, m.Layers, 1)
	return m.Layers[0]
}

// The Dockerfile's compile stage cannot run here (no golang image), so
// its go build is checked as text: hack/image's flags and environment,
// with the stage's ${VERSION} and ${TARGETARCH}, into linux-<arch>/ under
// /out, which the binaries stage copies.
func TestDockerfileCompilesAsHackImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testOptions.Src, "Dockerfile"))
	require.NoError(t, err)
	df := strings.ReplaceAll(string(b), "\\\n", " ")
	stage := regexp.MustCompile(`(?s)\nFROM --platform=\$BUILDPLATFORM \S+ AS compile\n(.*?)\nFROM `).FindStringSubmatch(df)
	require.NotNil(t, stage, "a compile stage on the build platform")
	var build string
	for _, line := range strings.Split(stage[1], "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, " go build ") {
			build = strings.Join(strings.Fields(line), " ") + " "
		}
	}
	require.NotEmpty(t, build, "the compile stage runs go build")
	for _, e := range goBuildEnv("${TARGETARCH}") {
		assert.Contains(t, build, " "+e+" ", "the environment of hack/image's compile")
	}
	for _, a := range goBuildArgs("${VERSION}") {
		if strings.Contains(a, " ") {
			a = `"` + a + `"`
		}
		assert.Contains(t, build, " "+a+" ", "the flags of hack/image's compile")
	}
	assert.Contains(t, build, " -o /out/linux-${TARGETARCH}/"+binName+" . ")
	assert.Contains(t, df, "\nFROM scratch AS binaries\nCOPY --from=compile /out/ /\n")
}
