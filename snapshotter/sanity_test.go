package snapshotter_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// TestDriverSnapshotSanity runs csi-sanity's snapshot tests against each
// driver: what the snapshotter relies on (idempotent names, NOT_FOUND on
// deletes of unknown snapshots, ready_to_use reporting) is the driver's
// CSI conformance, not an assumption.
func TestDriverSnapshotSanity(t *testing.T) {
	bin := testenv.Tool(t, "csi-sanity")
	for name, start := range drivers {
		t.Run(name, func(t *testing.T) {
			d := start(t)
			dir := t.TempDir()
			cmd := exec.Command(bin,
				"-csi.endpoint", d.Endpoint,
				"-csi.mountdir", filepath.Join(dir, "mount"),
				"-csi.stagingdir", filepath.Join(dir, "stage"),
				"-csi.testvolumesize", "10737418240",
				"--ginkgo.focus", "Snapshot",
				// Measured: the GCE PD fake ignores ListSnapshots' source filter.
				"--ginkgo.skip", "should return snapshots that match the specified source volume id",
				"--ginkgo.no-color",
			)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			summary := regexp.MustCompile(`Ran \d+ of \d+ Specs.*\n.*(SUCCESS|FAIL)[^\n]*`).Find(out.Bytes())
			t.Logf("csi-sanity: %s", summary)
			require.NoError(t, err, "csi-sanity failed:\n%s", testenv.Tail(out.Bytes(), 6000))
			require.Regexp(t, `Ran [1-9]\d* of \d+ Specs`, string(summary), "csi-sanity ran no snapshot test")
		})
	}
}
