package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// readmeSection is the README's compatibility section: from its heading to
// the next heading of the same level.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "\n## Compatibility\n")
	require.True(t, ok, "README.md has no \"## Compatibility\" section")
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	return after
}

// The README's compatibility table names exactly the releases and patches
// that make compat runs (hack/compat/v*/go.mod), so neither can change
// without the other.
func TestReadmeTableIsWhatCompatRuns(t *testing.T) {
	rels, err := releases(filepath.Join(testenv.RepoRoot(), "hack", "compat"))
	require.NoError(t, err)
	require.NotEmpty(t, rels)
	sec := readmeSection(t)

	var want, got [][2]string
	var patches []string
	for _, r := range rels {
		want = append(want, [2]string{r.Minor, r.Velero})
		patches = append(patches, r.Velero)
	}
	for _, line := range strings.Split(sec, "\n") {
		cols := strings.Split(strings.Trim(line, "| "), "|")
		if len(cols) >= 5 && strings.HasPrefix(strings.TrimSpace(cols[0]), "v1.") {
			got = append(got, [2]string{strings.TrimSpace(cols[0]), strings.Trim(strings.TrimSpace(cols[1]), "`")})
			for i, c := range cols[2:5] {
				assert.Equal(t, "✓", strings.TrimSpace(c), "README row %s, column %d: only proven cells are listed", cols[0], i+3)
			}
		}
	}
	assert.Equal(t, want, got, "README's per-release rows against hack/compat/v*/go.mod")
	assert.Contains(t, sec, "| "+strings.Join(patches, ", ")+" |", "the plugin row lists the proven patches")

	// The Kubernetes and Velero versions of make e2e's run.
	kube, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "hack", "kube", "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^require k8s\.io/kubernetes (v\S+)`).FindSubmatch(kube)
	require.NotNil(t, m, "hack/kube/go.mod requires no k8s.io/kubernetes")
	assert.Contains(t, sec, "Kubernetes "+string(m[1]), "the Kubernetes version make e2e runs (hack/kube/go.mod)")
	tool, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "hack", "tool.sh"))
	require.NoError(t, err)
	v := regexp.MustCompile(`(?m)^VELERO_VERSION=(\S+)`).FindSubmatch(tool)
	require.NotNil(t, v)
	assert.Contains(t, sec, "Velero "+string(v[1])+"'s server", "the Velero version make e2e runs (hack/tool.sh)")
}

// Every host module has the same main.go: the hosts differ only in the
// Velero release their go.mod requires.
func TestHostsAreOneProgram(t *testing.T) {
	rels, err := releases(filepath.Join(testenv.RepoRoot(), "hack", "compat"))
	require.NoError(t, err)
	require.NotEmpty(t, rels, "no host module under hack/compat")
	first, err := os.ReadFile(filepath.Join(rels[0].Dir, "main.go"))
	require.NoError(t, err)
	for _, r := range rels[1:] {
		b, err := os.ReadFile(filepath.Join(r.Dir, "main.go"))
		require.NoError(t, err)
		assert.Equal(t, string(first), string(b), "%s/main.go differs from %s/main.go", r.Minor, rels[0].Minor)
		mod, err := os.ReadFile(filepath.Join(r.Dir, "go.mod"))
		require.NoError(t, err)
		assert.NotContains(t, string(mod), "example.io/velero-plugin-s3csi ", "%s requires the main module, and with it Velero v1.18 (MVS)", r.Minor)
	}
}

// A broken-handshake cell that passes, or fails for another reason, fails
// make compat; only a failure on the handshake is what it must be.
func TestBrokenCellsMustFailOnTheHandshake(t *testing.T) {
	green := result{}
	handshake := cell{Failures: []string{"host did not start: Incompatible API version with plugin. Plugin version: 3, Client versions: [2]"}}
	other := cell{Failures: []string{"host did not start: fork/exec: no such file"}}
	rel := release{Minor: "v1.99", Velero: "v1.99.0"}
	for name, tc := range map[string]struct {
		broken result
		fails  bool
	}{
		"broken build passes":           {green, true},
		"broken build fails elsewhere":  {result{ObjectStore: other, VolumeSnapshotter: other, PluginLister: other}, true},
		"broken build fails on its way": {result{ObjectStore: handshake, VolumeSnapshotter: handshake, PluginLister: handshake}, false},
	} {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			assert.Equal(t, tc.fails, printTable(&out, []row{{rel: rel, res: green}}, []row{{rel: rel, res: tc.broken}}), out.String())
		})
	}
}
