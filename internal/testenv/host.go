package testenv

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
)

// ServeIfPluginProcess must open TestMain of a package that uses Host.
// Velero's plugin registry also runs its own binary as `<self>
// run-plugins` to list the plugins built into Velero; in a test that
// binary is the test binary, which then serves an empty plugin set just as
// a Velero binary with no built-in plugins would.
func ServeIfPluginProcess() {
	if len(os.Args) > 1 && os.Args[1] == "run-plugins" {
		framework.NewServer().BindFlags(pflag.CommandLine).Serve()
		os.Exit(0)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error

	raceOnce sync.Once
	raceDir  string
	raceErr  error
)

// RacePluginDir is PluginDir with the plugin built by the race detector,
// for tests of concurrent calls through the host: with GORACE
// halt_on_error=1 in the environment (RaceEnv) the plugin process dies on
// the first data race, and the calls in flight fail.
func RacePluginDir(t T) string {
	t.Helper()
	raceOnce.Do(func() {
		raceDir, raceErr = ProcessDir("s3csi-race-plugins-")
		if raceErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-race", "-trimpath", "-buildvcs=false", "-o", filepath.Join(raceDir, "velero-plugin-s3csi"), ".")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			raceErr = fmt.Errorf("go build -race of the plugin (it needs cgo: a C compiler, Debian's gcc): %v\n%s", err, out)
		}
	})
	if raceErr != nil {
		t.Fatal(raceErr)
	}
	return raceDir
}

// RaceEnv makes a race-built plugin process (which inherits the
// environment from the host) stop at its first data race.
const RaceEnv = "halt_on_error=1 exitcode=66"

// PluginDir builds the plugin binary once per test process and returns the
// folder holding it, as Velero's --plugin-dir would.
func PluginDir(t T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = ProcessDir("s3csi-plugins-")
		if buildErr != nil {
			return
		}
		// The image's flags (hack/image): its amd64 build then reuses
		// these compiled packages instead of building Velero's tree again.
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(buildDir, "velero-plugin-s3csi"), ".")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOAMD64=v1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build of the plugin: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// ProcessDir makes the folder <temp dir>/<prefix><pid> for what this
// process builds, and first removes the folders of processes that are gone:
// a test process cannot remove its own at exit without a TestMain in every
// package, and each holds a plugin binary of about 50 MB.
func ProcessDir(prefix string) (string, error) {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), prefix))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // still running
		}
		os.RemoveAll(dir)
	}
	dir := filepath.Join(os.TempDir(), prefix+strconv.Itoa(os.Getpid()))
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.Mkdir(dir, 0o700)
}

// Host is Velero's own plugin host code (pkg/plugin/clientmgmt) with a
// plugin folder, as Velero's server runs it.
type Host struct {
	Manager clientmgmt.Manager
	Logs    *LogCapture
}

var hostMu sync.Mutex

// StartHost discovers the plugins in dir and returns a manager. serverArgs
// are the flags of `velero server` that Velero hands on to every plugin
// process (for example --log-level=debug, --features=EnableCSI).
func StartHost(t T, dir string, level logrus.Level, serverArgs ...string) *Host {
	t.Helper()
	hostMu.Lock()
	defer hostMu.Unlock()
	if !flag.Parsed() {
		flag.Parse()
	}
	// The client builder passes os.Args[2:] to each plugin, as `velero
	// server --flags` does.
	os.Args = append([]string{os.Args[0], "server"}, serverArgs...)
	logs := NewLogCapture(level)
	reg := process.NewRegistry(dir, logs.Logger, level)
	if err := reg.DiscoverPlugins(); err != nil {
		t.Fatalf("velero plugin registry: %v", err)
	}
	m := clientmgmt.NewManager(logs.Logger, level, reg)
	t.Cleanup(m.CleanupClients)
	return &Host{Manager: m, Logs: logs}
}

// LogCapture keeps every line logged through the host's logger, plugin
// lines included.
type LogCapture struct {
	Logger *logrus.Logger
	mu     sync.Mutex
	lines  []*logrus.Entry
}

// NewLogCapture returns a logger at level whose lines are kept.
func NewLogCapture(level logrus.Level) *LogCapture {
	l := logrus.New()
	l.SetLevel(level)
	l.SetOutput(&discard{})
	c := &LogCapture{Logger: l}
	l.AddHook(c)
	return c
}

// Levels is part of logrus.Hook.
func (c *LogCapture) Levels() []logrus.Level { return logrus.AllLevels }

// Fire is part of logrus.Hook.
func (c *LogCapture) Fire(e *logrus.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *e
	cp.Data = logrus.Fields{}
	for k, v := range e.Data {
		cp.Data[k] = v
	}
	c.lines = append(c.lines, &cp)
	return nil
}

// Entries returns the lines so far.
func (c *LogCapture) Entries() []*logrus.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*logrus.Entry(nil), c.lines...)
}

// Text renders every line with its fields, for searching.
func (c *LogCapture) Text() string {
	var b strings.Builder
	for _, e := range c.Entries() {
		fmt.Fprintf(&b, "%s %s", e.Level, e.Message)
		for k, v := range e.Data {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

type discard struct{}

func (*discard) Write(p []byte) (int, error) {
	if os.Getenv("S3CSI_TEST_HOSTLOG") != "" {
		return os.Stderr.Write(p)
	}
	return len(p), nil
}

// Find waits (up to 15 s: plugin lines reach the host asynchronously, over
// the plugin's stderr) for a line that match accepts and returns it, or
// nil if none came.
func (c *LogCapture) Find(match func(e *logrus.Entry) bool) *logrus.Entry {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var found *logrus.Entry
		for _, e := range c.Entries() {
			if match(e) {
				found = e
			}
		}
		if found != nil || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Count waits until at least n lines match (up to 15 s) and returns how
// many there are.
func (c *LogCapture) Count(n int, match func(e *logrus.Entry) bool) int {
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := 0
		for _, e := range c.Entries() {
			if match(e) {
				got++
			}
		}
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}
