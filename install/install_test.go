package install_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/install"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

// The built binary's install mode, as the init container runs it.
func TestInstallModeCopiesTheBinary(t *testing.T) {
	bin := filepath.Join(testenv.PluginDir(t), "velero-plugin-s3csi")
	target := t.TempDir()
	out, err := exec.Command(bin, "install", "--target", target).CombinedOutput()
	require.NoError(t, err, string(out))
	dst := filepath.Join(target, "velero-plugin-s3csi")
	assert.Equal(t, "installed "+dst+"\n", string(out))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	a, _ := os.ReadFile(bin)
	b, _ := os.ReadFile(dst)
	assert.True(t, bytes.Equal(a, b), "the copy is the binary")
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")
	v, err := exec.Command(dst, "--version").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(v), "velero-plugin-s3csi "), string(v))
}

func TestCopyFailsCleanly(t *testing.T) {
	_, err := install.Copy("/nonexistent/bin", t.TempDir())
	require.Error(t, err)
	src := filepath.Join(t.TempDir(), "p")
	require.NoError(t, os.WriteFile(src, []byte("x"), 0o755))
	_, err = install.Copy(src, "/nonexistent/dir")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "install into /nonexistent/dir")
}

// The Dockerfile builds what a scratch init container needs: the binary
// as entrypoint in install mode, as a non-root user, and nothing else.
func TestDockerfileLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Dockerfile"))
	require.NoError(t, err)
	df := string(b)
	final := df[strings.LastIndex(df, "\nFROM "):]
	assert.Contains(t, final, "FROM scratch")
	assert.Contains(t, final, "USER 65532:65532")
	assert.Contains(t, final, `ENTRYPOINT ["/plugins/velero-plugin-s3csi", "install", "--target", "/target"]`)
	assert.Equal(t, 1, strings.Count(final, "COPY "), "one file in the image")
	assert.Contains(t, df, "CGO_ENABLED=0")
	assert.Contains(t, df, "-X main.version=")
}

// No Docker engine runs here, so the image's root filesystem is built by
// hand as the Dockerfile lays it out (the static binary at /plugins, an
// empty /target, nothing else: FROM scratch) and the entrypoint is run in
// it as the image's user, chrooted, as a container runtime would.
func TestImageRootFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chroots and runs as uid 65532 like the image: run it as root (CI does)")
	}
	bin := filepath.Join(testenv.PluginDir(t), "velero-plugin-s3csi")
	f, err := elf.Open(bin)
	require.NoError(t, err)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "the binary must be static for FROM scratch")
	}
	libs, _ := f.ImportedLibraries()
	assert.Empty(t, libs)
	f.Close()

	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "plugins"), 0o755))
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "plugins", "velero-plugin-s3csi"), data, 0o755))
	target := filepath.Join(root, "target") // the emptyDir volume, writable by the pod's user
	require.NoError(t, os.Mkdir(target, 0o755))
	require.NoError(t, os.Chown(target, 65532, 65532))

	// ENTRYPOINT ["/plugins/velero-plugin-s3csi", "install", "--target", "/target"], USER 65532:65532
	cmd := exec.Command("/plugins/velero-plugin-s3csi", "install", "--target", "/target")
	cmd.Dir = "/"
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "installed /target/velero-plugin-s3csi\n", string(out))
	st, err := os.Stat(filepath.Join(target, "velero-plugin-s3csi"))
	require.NoError(t, err)
	assert.Equal(t, uint32(65532), st.Sys().(*syscall.Stat_t).Uid, "written by the image's user")

	v := exec.Command("/plugins/velero-plugin-s3csi", "--version")
	v.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	vout, err := v.Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(vout), "velero-plugin-s3csi "), string(vout))
}
