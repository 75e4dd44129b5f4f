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

// The age streams are a package of their own (STYLE.md: a stream that
// transforms bytes has no S3 or Velero import; the transport decides
// where it applies): internal/agestream links age and the standard
// library's kin, never the AWS SDK, Velero, or the plugin's packages.
func TestDepsOfAgeStream(t *testing.T) {
	const pkg = "example.io/velero-plugin-s3csi/internal/agestream"
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	require.NoError(t, err, "go list -deps %s: %s", pkg, out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "filippo.io/age", "go list -deps printed no age: %s", out)
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, "github.com/aws/"), "agestream imports %s", d)
		assert.False(t, strings.HasPrefix(d, "github.com/vmware-tanzu/"), "agestream imports %s", d)
		assert.False(t, strings.HasPrefix(d, "example.io/velero-plugin-s3csi/") && d != pkg, "agestream imports %s", d)
	}
}
