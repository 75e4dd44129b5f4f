package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// release is one Velero minor release and the host module that proves it.
type release struct {
	Minor  string // v1.14: the folder hack/compat/v1.14
	Velero string // v1.14.1: the version its go.mod requires
	Dir    string
}

var veleroRequire = regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/vmware-tanzu/velero (v\S+)`)

// releases are the host modules under dir (hack/compat/v*), oldest first:
// each folder's go.mod is the one place that names its release's patch.
func releases(dir string) ([]release, error) {
	mods, err := filepath.Glob(filepath.Join(dir, "v*", "go.mod"))
	if err != nil {
		return nil, err
	}
	var out []release
	for _, mod := range mods {
		b, err := os.ReadFile(mod)
		if err != nil {
			return nil, err
		}
		m := veleroRequire.FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("%s requires no github.com/vmware-tanzu/velero", mod)
		}
		r := release{Minor: filepath.Base(filepath.Dir(mod)), Velero: string(m[1]), Dir: filepath.Dir(mod)}
		if !strings.HasPrefix(r.Velero, r.Minor+".") {
			return nil, fmt.Errorf("%s requires velero %s, not a patch of %s", mod, r.Velero, r.Minor)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return minorOf(out[i].Minor) < minorOf(out[j].Minor) })
	return out, nil
}

func minorOf(v string) int {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(parts[1])
	return n
}

// buildHost builds a release's host into out. Its own go.mod and go.sum
// decide every version (no workspace, no edits).
func buildHost(r release, out string) error {
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the %s host (%s): %v\n%s", r.Minor, r.Dir, err, b)
	}
	return nil
}

// hostArgs are the servers and the volume a host run uses.
type hostArgs struct {
	PluginDir, S3URL, Bucket, CredentialsFile, CSIDriver, CSIEndpoint, VolumeID string
}

// result is internal/conformance.Result as the host writes it.
type result struct {
	Velero            string `json:"velero"`
	ObjectStore       cell   `json:"objectStore"`
	VolumeSnapshotter cell   `json:"volumeSnapshotter"`
	PluginLister      cell   `json:"pluginLister"`
	SnapshotID        string `json:"snapshotID"`
}

type cell struct {
	Failures []string `json:"failures"`
}

func (c cell) ok() bool { return len(c.Failures) == 0 }

func (c *cell) fail(format string, args ...any) {
	c.Failures = append(c.Failures, fmt.Sprintf(format, args...))
}

// hostTimeout bounds one host run; the cases take seconds.
const hostTimeout = 10 * time.Minute

// runHost runs a built host and reads its result. A host that writes no
// result (it crashed) fails every cell with its output.
func runHost(bin, work string, a hostArgs) result {
	resultPath := filepath.Join(work, filepath.Base(bin)+".json")
	os.Remove(resultPath)
	// A guard against a hang (a call that never returns), never a pass.
	ctx, cancel := context.WithTimeout(context.Background(), hostTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--plugin-dir", a.PluginDir, "--result", resultPath,
		"--s3-url", a.S3URL, "--bucket", a.Bucket, "--credentials-file", a.CredentialsFile,
		"--csi-driver", a.CSIDriver, "--csi-endpoint", a.CSIEndpoint, "--volume-id", a.VolumeID)
	cmd.Dir = work
	// On a hang the host and the plugin processes it started go together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if os.Getenv("S3CSI_COMPAT_HOSTLOG") != "" { // the host then prints its log lines too
		cmd.Stderr = io.MultiWriter(&out, os.Stderr)
	}
	runErr := cmd.Run()
	var r result
	b, err := os.ReadFile(resultPath)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		for _, c := range []*cell{&r.ObjectStore, &r.VolumeSnapshotter, &r.PluginLister} {
			c.fail("the host wrote no result (%v; exit: %v); its output:\n%s", err, runErr, tail(out.String(), 4096))
		}
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
