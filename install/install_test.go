package install_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/install"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

// The built binary's install mode, as the init container runs it. The
// image's own test (hack/image) runs it from the real archive, chrooted
// into the image's layer as its user.
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
