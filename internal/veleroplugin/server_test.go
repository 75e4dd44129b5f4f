package veleroplugin_test

import (
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
)

func TestMain(m *testing.M) {
	testenv.ServeIfPluginProcess()
	os.Exit(m.Run())
}

var (
	fakeOnce sync.Once
	fakeDir  string
	fakeErr  error
)

// fakePlugins builds testdata/fakeplugin, a binary served by this package
// whose plugins do what their keys say, into a plugin folder.
func fakePlugins(t *testing.T) string {
	t.Helper()
	fakeOnce.Do(func() {
		if fakeDir, fakeErr = testenv.ProcessDir("veleroplugin-fake-"); fakeErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(fakeDir, "fakeplugin"), "./internal/veleroplugin/testdata/fakeplugin")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			fakeErr = errors.New("go build of testdata/fakeplugin: " + err.Error() + "\n" + string(out))
		}
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	return fakeDir
}

// The kinds this package names are the ones Velero's host knows: the
// PluginLister's answer is checked against them when the host starts the
// binary, and the plugin ConfigMap's label carries them.
func TestKindsAreVelerosKinds(t *testing.T) {
	assert.Equal(t, string(common.PluginKindObjectStore), veleroplugin.KindObjectStore)
	assert.Equal(t, string(common.PluginKindVolumeSnapshotter), veleroplugin.KindVolumeSnapshotter)
}

// Everything below goes through Velero's own host (clientmgmt, its
// process registry, go-plugin) to the built fake plugin binary.
func TestObjectStoreThroughVelerosHost(t *testing.T) {
	h := testenv.StartHost(t, fakePlugins(t), logrus.DebugLevel, "--log-level=debug", "--features=EnableCSI", "--some-future-server-flag=3")
	s, err := h.Manager.GetObjectStore("example.io/fake")
	require.NoError(t, err)
	require.NoError(t, s.Init(map[string]string{"bucket": "b"}))

	t.Run("bodies arrive whole in both directions", func(t *testing.T) {
		for _, size := range []int{1, 16 << 10, 1<<20 - 1, 1 << 20, 1<<20 + 3, 3<<20 + 5} { // around GetObject's 1 MiB messages
			want := make([]byte, size)
			_, err := rand.Read(want)
			require.NoError(t, err)
			require.NoError(t, s.PutObject("b", "k", strings.NewReader(string(want))))
			rc, err := s.GetObject("b", "k")
			require.NoError(t, err)
			got, err := io.ReadAll(rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			require.Equal(t, want, got, "size %d", size)
		}
	})

	t.Run("a read that fails mid-object reaches the host as an error, not as the end", func(t *testing.T) {
		body := make([]byte, 600<<10)
		require.NoError(t, s.PutObject("b", "broken", strings.NewReader(string(body))))
		rc, err := s.GetObject("b", "broken")
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.ErrorContains(t, err, "fake store lost the rest of the object")
		assert.Less(t, len(got), len(body))
	})

	t.Run("errors keep their text and their gRPC code", func(t *testing.T) {
		err := s.PutObject("b", "fail", strings.NewReader("x"))
		require.ErrorContains(t, err, "fake store refused key fail")
		assert.Equal(t, codes.Unknown, status.Code(err))
		err = s.PutObject("b", "notfound", strings.NewReader("x"))
		require.ErrorContains(t, err, "fake store has no such bucket")
		assert.Equal(t, codes.NotFound, status.Code(err))
		// The host's GetObject returns before the plugin answers: the error
		// comes with the first read.
		rc, err := s.GetObject("b", "missing")
		if err == nil {
			_, err = io.ReadAll(rc)
		}
		require.ErrorContains(t, err, "fake store has no b/missing")
	})

	t.Run("an empty body is refused by name", func(t *testing.T) {
		err := s.PutObject("b", "empty", strings.NewReader(""))
		require.ErrorContains(t, err, "names no bucket or key")
		assert.Equal(t, codes.InvalidArgument, status.Code(err))
	})

	t.Run("a panic fails its call and the process serves on", func(t *testing.T) {
		require.NoError(t, s.PutObject("b", "kept", strings.NewReader("x")))
		err := s.PutObject("b", "panic", strings.NewReader("x"))
		require.ErrorContains(t, err, "plugin panicked: fake store told to panic")
		assert.Equal(t, codes.Aborted, status.Code(err))
		exists, err := s.ObjectExists("b", "kept") // the same process, the same instance
		require.NoError(t, err)
		assert.True(t, exists)
		line := h.Logs.Find(func(e *logrus.Entry) bool { return strings.Contains(e.Message, "plugin panicked") })
		require.NotNil(t, line, "the panic is logged:\n%s", h.Logs.Text())
		assert.Equal(t, logrus.ErrorLevel, line.Level)
		assert.Contains(t, line.Data["stack"], "main.(*store).PutObject")
	})

	t.Run("the other calls carry their arguments and answers", func(t *testing.T) {
		prefixes, err := s.ListCommonPrefixes("b", "backups/", "/")
		require.NoError(t, err)
		assert.Equal(t, []string{"backups/a/", "backups/b/"}, prefixes)
		keys, err := s.ListObjects("b", "p/")
		require.NoError(t, err)
		assert.Equal(t, []string{"p/x"}, keys)
		url, err := s.CreateSignedURL("b", "k", 10*time.Minute)
		require.NoError(t, err)
		assert.Equal(t, "https://fake/b/k?ttl=10m0s", url)
		require.NoError(t, s.DeleteObject("b", "kept"))
		exists, err := s.ObjectExists("b", "kept")
		require.NoError(t, err)
		assert.False(t, exists)
	})

	t.Run("log lines reach the host with their level, fields and source", func(t *testing.T) {
		warn := h.Logs.Find(func(e *logrus.Entry) bool { return e.Message == "fake store ready" })
		require.NotNil(t, warn, "host log:\n%s", h.Logs.Text())
		assert.Equal(t, logrus.WarnLevel, warn.Level)
		assert.Equal(t, "b", warn.Data["bucket"])
		assert.Contains(t, warn.Data["logSource"], "fakeplugin/main.go:")
		// --log-level=debug reached the plugin, beside flags it does not know.
		assert.NotNil(t, h.Logs.Find(func(e *logrus.Entry) bool { return e.Message == "fake store debug line" }))
	})
}

// At Velero's default --log-level the plugin's debug lines are not sent.
func TestLogLevelFromTheHost(t *testing.T) {
	h := testenv.StartHost(t, fakePlugins(t), logrus.DebugLevel, "--log-level=info")
	s, err := h.Manager.GetObjectStore("example.io/fake")
	require.NoError(t, err)
	require.NoError(t, s.Init(map[string]string{"bucket": "b"}))
	require.NotNil(t, h.Logs.Find(func(e *logrus.Entry) bool { return e.Message == "fake store ready" }))
	// The plugin logs the debug line before the warning and the host reads
	// its stderr in order, so a debug line that was sent is here by now:
	// no need to wait Find's 15 s for a line that must not come.
	assert.False(t, slices.ContainsFunc(h.Logs.Entries(), func(e *logrus.Entry) bool { return e.Message == "fake store debug line" }),
		"a debug line reached the host at --log-level=info")
}

// A --log-level that is no level stops the plugin with a message naming
// it, rather than serving at a level nobody asked for.
func TestBadLogLevelIsRefused(t *testing.T) {
	cmd := exec.Command(filepath.Join(fakePlugins(t), "fakeplugin"), "--log-level=loud")
	cmd.Env = append(os.Environ(), "VELERO_PLUGIN=hello")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), `--log-level "loud"`)
}

func TestVolumeSnapshotterThroughVelerosHost(t *testing.T) {
	h := testenv.StartHost(t, fakePlugins(t), logrus.InfoLevel)
	vs, err := h.Manager.GetVolumeSnapshotter("example.io/fakecsi")
	require.NoError(t, err)
	require.NoError(t, vs.Init(map[string]string{}))

	pv := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolume",
		"metadata": map[string]any{"name": "pv1"},
		"spec":     map[string]any{"csi": map[string]any{"driver": "d", "volumeHandle": "vol-1"}},
	}}
	id, err := vs.GetVolumeID(pv)
	require.NoError(t, err)
	assert.Equal(t, "vol-1", id)
	updated, err := vs.SetVolumeID(pv, "vol-2")
	require.NoError(t, err)
	id, err = vs.GetVolumeID(updated)
	require.NoError(t, err)
	assert.Equal(t, "vol-2", id)
	name, _, _ := unstructured.NestedString(updated.UnstructuredContent(), "metadata", "name")
	assert.Equal(t, "pv1", name, "the rest of the PV comes back unchanged")

	snap, err := vs.CreateSnapshot("vol-1", "az", map[string]string{"velero.io/backup": "bk"})
	require.NoError(t, err)
	assert.Equal(t, "snap-of-vol-1-for-bk", snap)

	iops := int64(500)
	vol, err := vs.CreateVolumeFromSnapshot("s1", "t", "az", &iops)
	require.NoError(t, err)
	assert.Equal(t, "vol-from-s1-iops-500", vol)
	vol, err = vs.CreateVolumeFromSnapshot("s1", "t", "az", nil)
	require.NoError(t, err)
	assert.Equal(t, "vol-from-s1-no-iops", vol)

	typ, got, err := vs.GetVolumeInfo("with-iops", "az")
	require.NoError(t, err)
	assert.Equal(t, "gp3", typ)
	require.NotNil(t, got)
	assert.Equal(t, int64(3000), *got)
	_, got, err = vs.GetVolumeInfo("plain", "az")
	require.NoError(t, err)
	assert.Nil(t, got)

	err = vs.DeleteSnapshot("in-use")
	require.ErrorContains(t, err, "snapshot in-use is in use")
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.NoError(t, vs.DeleteSnapshot("s1"))
}
