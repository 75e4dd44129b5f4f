package testenv

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"

	"example.io/velero-plugin-s3csi/relay"
)

// RelayServerName is the DNS name in the test relay's certificate; the
// plugin dials 127.0.0.1 and checks this name (tlsServerName).
const RelayServerName = "csi-relay.test"

// RelayCerts are two CAs, as deploy/csi-relay and `csi-relay certs` make
// them: CA signs the relay's server certificate (the plugin trusts it,
// CAFile), ClientCA the plugin's client certificate named "velero" (the
// relay trusts it, ClientCAFile); all files in Dir.
type RelayCerts struct {
	Dir                                                  string
	CA, ClientCA                                         *relay.CA
	CAFile, ServerCert, ServerKey, ClientCert, ClientKey string
	ClientCAFile                                         string
}

// NewRelayCerts makes both CAs valid for a day and issues both certificates.
func NewRelayCerts(t T) *RelayCerts {
	t.Helper()
	now := time.Now()
	ca, err := relay.NewCA("test relay CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := relay.NewCA("test relay client CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := &RelayCerts{Dir: t.TempDir(), CA: ca, ClientCA: clientCA}
	c.CAFile = c.write(t, "ca.crt", ca.PEM)
	c.ClientCAFile = c.write(t, "client-ca.crt", clientCA.PEM)
	c.ServerCert, c.ServerKey = c.Issue(t, relay.ServerAuth, RelayServerName, now.Add(-time.Hour), now.Add(24*time.Hour))
	c.ClientCert, c.ClientKey = c.Issue(t, relay.ClientAuth, "velero", now.Add(-time.Hour), now.Add(24*time.Hour))
	return c
}

// Issue signs one more certificate, a server's with CA and a client's
// with ClientCA, and returns its files.
func (c *RelayCerts) Issue(t T, u relay.Usage, name string, from, to time.Time) (certFile, keyFile string) {
	t.Helper()
	ca := c.CA
	if u == relay.ClientAuth {
		ca = c.ClientCA
	}
	return c.IssueFrom(t, ca, u, name, from, to)
}

// IssueFrom signs one more certificate with ca and returns its files.
func (c *RelayCerts) IssueFrom(t T, ca *relay.CA, u relay.Usage, name string, from, to time.Time) (certFile, keyFile string) {
	t.Helper()
	cert, key, err := ca.Issue(u, name, nil, from, to)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("%s-%d-%d", name, u, time.Now().UnixNano())
	return c.write(t, base+".crt", cert), c.write(t, base+".key", key)
}

// Sign signs tmpl with ca and returns its files.
func (c *RelayCerts) Sign(t T, ca *relay.CA, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	cert, key, err := ca.Sign(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("signed-%d", time.Now().UnixNano())
	return c.write(t, base+".crt", cert), c.write(t, base+".key", key)
}

func (c *RelayCerts) write(t T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(c.Dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Relay is a csi-relay in front of a CSI driver, on 127.0.0.1.
type Relay struct {
	Addr     string // 127.0.0.1:port
	Endpoint string // tcp://127.0.0.1:port, for the VSL
	Health   string // 127.0.0.1:port of /healthz
	Logs     *LogCapture
	LogPath  string // the process's output (StartRelayProcess)
	cmd      *exec.Cmd
	cfg      relay.Config // in process
	opts     []grpc.ServerOption
	cancel   context.CancelFunc
	done     chan error
}

// StartRelay serves a relay in this process, with extra gRPC server
// options (fault-injecting interceptors), until the test ends.
func StartRelay(t T, csiEndpoint string, certs *RelayCerts, opts ...grpc.ServerOption) *Relay {
	t.Helper()
	r := &Relay{Logs: NewLogCapture(logrus.DebugLevel)}
	r.setAddrs(t, "")
	r.cfg = relay.Config{CSIAddress: csiEndpoint, Listen: r.Addr, CertFile: certs.ServerCert,
		KeyFile: certs.ServerKey, ClientCAFile: certs.ClientCAFile, ClientName: "velero", HTTPEndpoint: r.Health,
		DrainTimeout: RelayDrain}
	r.opts = opts
	r.serve(t)
	t.Cleanup(func() { r.Stop() })
	return r
}

// RelayDrain is how long an in-process relay lets calls in flight finish
// when it stops; a call still held then is cut.
const RelayDrain = 5 * time.Second

// Restart stops an in-process relay, which cuts the calls still in flight
// after RelayDrain, and serves it again on the same address.
func (r *Relay) Restart(t T) {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	r.serve(t)
}

func (r *Relay) serve(t T) {
	t.Helper()
	rl, err := relay.New(r.cfg, r.Logs.Logger, r.opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- rl.Serve(ctx) }()
	r.waitHealthy(t)
}

// StartRelayProcess runs the built plugin binary's csi-relay sub-mode (the
// real artifact) until the test ends, with relayFlags; addr "" picks a
// free port.
func StartRelayProcess(t T, csiEndpoint string, certs *RelayCerts, addr string) *Relay {
	t.Helper()
	return StartRelayCommand(t, addr, func(listen, health string) []string {
		return relayFlags(csiEndpoint, certs, listen, health)
	})
}

// relayFlags are the flags of a relay in front of csiEndpoint, serving
// listen with certs and GET /healthz on health, at a sidecar's -v=4.
func relayFlags(csiEndpoint string, certs *RelayCerts, listen, health string) []string {
	return []string{"--csi-address=" + csiEndpoint, "--listen=" + listen,
		"--tls-cert-file=" + certs.ServerCert, "--tls-private-key-file=" + certs.ServerKey,
		"--client-ca-file=" + certs.ClientCAFile, "--client-name=velero", "--http-endpoint=" + health, "-v=4"}
}

// StartRelayCommand runs the built binary's csi-relay with the flags that
// flags returns for the relay's address and its health address (which the
// flags must serve: the relay is started once /healthz answers 200), so a
// test chooses every spelling.
func StartRelayCommand(t T, addr string, flags func(listen, health string) []string) *Relay {
	t.Helper()
	r := &Relay{}
	r.setAddrs(t, addr)
	dir := t.TempDir()
	r.LogPath = filepath.Join(dir, "csi-relay.log")
	logf, err := os.Create(r.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(PluginDir(t), "velero-plugin-s3csi")
	r.cmd = exec.Command(bin, append([]string{"csi-relay"}, flags(r.Addr, r.Health)...)...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start csi-relay: %v", err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(r.LogPath); err == nil {
				t.Logf("csi-relay log (last 4 KiB):\n%s", Tail(b, 4096))
			}
		}
	})
	r.waitHealthy(t)
	return r
}

func (r *Relay) setAddrs(t T, addr string) {
	if addr == "" {
		addr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	r.Addr, r.Endpoint = addr, "tcp://"+addr
	r.Health = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// waitHealthy waits until /healthz says the driver answers through it.
func (r *Relay) waitHealthy(t T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Health + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("csi-relay at %s not healthy: %v", r.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the relay as Kubernetes does (SIGTERM, or the context in
// process) and waits until it has drained and exited.
func (r *Relay) Stop() error {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
	} else {
		r.cancel()
	}
	return r.wait()
}

// Pid is the relay process's id (StartRelayCommand), 0 in process.
func (r *Relay) Pid() int {
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Kill ends a relay process at once (SIGKILL).
func (r *Relay) Kill() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.wait()
		return
	}
	_ = r.Stop()
}

func (r *Relay) wait() error {
	if r.done == nil {
		return nil
	}
	err := <-r.done
	r.done = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
		return nil
	}
	return err
}

// Text is what the relay logged so far.
func (r *Relay) Text() string {
	if r.Logs != nil {
		return r.Logs.Text()
	}
	b, _ := os.ReadFile(r.LogPath)
	return string(b)
}
