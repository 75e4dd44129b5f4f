package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The binary that ships never carries the test servers: internal/testenv
// (MinIO, the CSI driver, Velero's host, the fault proxy) is for tests, the
// demo and the bench only, testify is for tests only, and of Velero only
// the generated plugin protos are linked in.
func TestBinaryDoesNotImportTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "go list -deps .: %s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "example.io/velero-plugin-s3csi/objectstore", "go list -deps . printed no project package: %s", out)
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, "example.io/velero-plugin-s3csi/internal/testenv"), "the binary imports %s", d)
		assert.False(t, strings.HasPrefix(d, "github.com/stretchr/testify"), "the binary imports %s", d)
		// Velero's generated protos are the protocol itself; its framework
		// and server packages cost every plugin process 23 MiB.
		if strings.HasPrefix(d, "github.com/vmware-tanzu/velero/") {
			assert.True(t, strings.HasPrefix(d, "github.com/vmware-tanzu/velero/pkg/plugin/generated"), "the binary imports Velero's %s; only its generated protos belong in it", d)
		}
	}
}
