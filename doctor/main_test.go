package doctor_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.NoAmbientKubernetes()
	os.Exit(m.Run())
}

// run runs the built binary's doctor with args and returns its stdout,
// stderr and exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := filepath.Join(testenv.PluginDir(t), "velero-plugin-s3csi")
	cmd := exec.Command(bin, append([]string{"doctor"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run doctor: %v", err)
	}
	return out.String(), errb.String(), code
}

// writeManifest writes a location manifest (any YAML-able value).
func writeManifest(t *testing.T, v any) string {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "location.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines are the ✓/✗/- lines of a text report, the fix lines joined to
// the line they belong to.
func lines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "    fix: ") && len(ls) > 0:
			ls[len(ls)-1] += "\n" + l
		case strings.HasPrefix(l, "✓ "), strings.HasPrefix(l, "✗ "), strings.HasPrefix(l, "- "):
			ls = append(ls, l)
		}
	}
	return ls
}

// failed are the ✗ lines with their fixes.
func failed(out string) []string {
	var f []string
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "✗ ") {
			f = append(f, l)
		}
	}
	return f
}
