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

// Tool returns the path of a pinned tool that `make tools` builds into the
// tool cache. A missing tool fails the test with the way to get it.
func Tool(t T, name string) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(RepoRoot(), "hack", "tool.sh"), "--check", name)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("test tool %s is missing (%s): run `make tools` (it builds the pinned version into the tool cache)", name, strings.TrimSpace(errb.String()))
	}
	path := strings.TrimSpace(out.String())
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test tool %s is missing at %s: run `make tools`", name, path)
	}
	return path
}
