package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The image of this machine's architecture, run as a container runtime
// would without one: its layer unpacked as the root file system, an empty
// /target as the emptyDir Kubernetes mounts there (a mount point the
// runtime makes; the image has no such folder), and the config's
// entrypoint run in it chrooted, as the config's user, in its working
// folder, with its environment.
func TestEntrypointRunsChrootedAsTheImageUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chroots and runs as uid 65532 like the image: run it as root (CI does)")
	}
	path, _ := builtArchive(t)
	img := imageFor(t, openArchive(t, path), runtime.GOARCH)
	cf, err := img.ConfigFile()
	require.NoError(t, err)

	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	unpackLayer(t, img, root)
	target := filepath.Join(root, "target")
	require.NoError(t, os.Mkdir(target, 0o777))
	require.NoError(t, os.Chmod(target, 0o777)) // an emptyDir's mode, whatever the umask

	uid, gid := parseUser(t, cf.Config.User)
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = cf.Config.WorkingDir
		cmd.Env = append([]string{}, cf.Config.Env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		return cmd
	}
	out, err := run(cf.Config.Entrypoint...).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "installed /target/velero-plugin-s3csi\n", string(out))

	installed := filepath.Join(target, "velero-plugin-s3csi")
	st, err := os.Stat(installed)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	assert.Equal(t, uint32(65532), st.Sys().(*syscall.Stat_t).Uid, "written by the image's user")
	assert.Equal(t, fileSum(t, filepath.Join(root, "plugins", "velero-plugin-s3csi")), fileSum(t, installed), "the copy is the binary")
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	// What Velero's server then runs from /plugins is the same binary,
	// stamped with the version.
	v, err := run("/target/velero-plugin-s3csi", "--version").Output()
	require.NoError(t, err)
	assert.Equal(t, "velero-plugin-s3csi v0.0.0-test\n", string(v))
}

func imageFor(t *testing.T, idx v1.ImageIndex, arch string) v1.Image {
	t.Helper()
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			require.NoError(t, err)
			return img
		}
	}
	t.Fatalf("the image has no linux/%s: this test runs the image of the machine's own architecture", arch)
	return nil
}

// unpackLayer writes the only layer's folders and files under root with
// their modes and owners, as a runtime's snapshotter does.
func unpackLayer(t *testing.T, img v1.Image, root string) {
	t.Helper()
	eachEntry(t, onlyLayer(t, img), func(h *tar.Header, body io.Reader) {
		require.True(t, filepath.IsLocal(h.Name), h.Name)
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.Mkdir(p, os.FileMode(h.Mode).Perm()))
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode).Perm())
			require.NoError(t, err)
			_, err = io.Copy(f, body)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		default:
			t.Fatalf("layer entry %s of type %q", h.Name, h.Typeflag)
		}
		require.NoError(t, os.Chmod(p, os.FileMode(h.Mode).Perm()))
		require.NoError(t, os.Lchown(p, h.Uid, h.Gid))
	})
}

// parseUser reads a numeric USER uid:gid; a name would need /etc/passwd,
// which the image does not have.
func parseUser(t *testing.T, user string) (uint32, uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	require.True(t, ok, "USER %q names no group: a runtime would run it as gid 0", user)
	uid, err := strconv.ParseUint(u, 10, 32)
	require.NoError(t, err, fmt.Sprintf("USER %q", user))
	gid, err := strconv.ParseUint(g, 10, 32)
	require.NoError(t, err, fmt.Sprintf("USER %q", user))
	return uint32(uid), uint32(gid)
}
