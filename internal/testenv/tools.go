// Package testenv starts the real things the tests run against: S3
// servers, Velero's plugin host, a request-capturing proxy. Production
// code never imports it.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot is the module's root folder, found from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Tool returns the path of a pinned tool that hack/tool.sh builds into the
// tool cache (`make tools` builds those of `make test`; `make e2e` and
// `make bench` build theirs). A missing tool fails with the way to get it.
func Tool(t T, name string) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(RepoRoot(), "hack", "tool.sh"), "--check", name)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("test tool %s is missing (%s): run `bash hack/tool.sh %s` (it builds the pinned version into the tool cache, or installs the Debian package as root; `make tools` gets those of `make test`)",
			name, strings.TrimSpace(errb.String()), name)
	}
	path := strings.TrimSpace(out.String())
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test tool %s is missing at %s: run `bash hack/tool.sh %s`", name, path, name)
	}
	return path
}
