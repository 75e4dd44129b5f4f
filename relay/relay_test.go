package relay_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/relay"
)

func TestMain(m *testing.M) {
	testenv.ServeIfPluginProcess()
	os.Exit(m.Run())
}

// client dials the relay with a client certificate (none when certFile is
// ""), trusting caFile and checking serverName.
func client(t *testing.T, addr, certFile, keyFile, caFile, serverName string) *grpc.ClientConn {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{cert}
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func info(conn *grpc.ClientConn) (*csi.GetPluginInfoResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
}

// TestForwardAndRefuse runs the real GCE PD driver behind the relay: an
// allowed call is forwarded, a call off the list is denied by name, and
// every bad client is refused with its reason in the relay's log.
func TestForwardAndRefuse(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	good := client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, testenv.RelayServerName)

	resp, err := info(good)
	require.NoError(t, err)
	assert.Equal(t, testenv.GCEPDDriverName, resp.GetName())

	_, err = csi.NewNodeClient(good).NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "/csi.v1.Node/NodeGetInfo")
	_, err = csi.NewControllerClient(good).ControllerPublishVolume(context.Background(), &csi.ControllerPublishVolumeRequest{VolumeId: "v", NodeId: "n"})
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)

	// The driver's own errors pass through, code and message.
	_, err = csi.NewControllerClient(good).DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)

	now := time.Now()
	other := testenv.NewRelayCerts(t) // another CA
	expiredCert, expiredKey := certs.Issue(t, relay.ClientAuth, "velero", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	strangerCert, strangerKey := certs.Issue(t, relay.ClientAuth, "mallory", now.Add(-time.Hour), now.Add(time.Hour))
	serverUsed, serverUsedKey := certs.IssueFrom(t, certs.ClientCA, relay.ServerAuth, "velero", now.Add(-time.Hour), now.Add(time.Hour))
	// The server's CA signs a perfect client certificate: the relay
	// trusts only the client CA.
	fromServerCA, fromServerCAKey := certs.IssueFrom(t, certs.CA, relay.ClientAuth, "velero", now.Add(-time.Hour), now.Add(time.Hour))
	// The name only in the CN: no CA constrains a CN, so it is not checked.
	cnOnly, cnOnlyKey := certs.Sign(t, certs.ClientCA, &x509.Certificate{Subject: pkix.Name{CommonName: "velero"}, DNSNames: []string{"mallory"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	for _, tc := range []struct {
		name, cert, key, reason string
	}{
		{"no client certificate", "", "", "sent no certificate"},
		{"another CA", other.ClientCert, other.ClientKey, "certificate signed by unknown authority"},
		{"the server's CA", fromServerCA, fromServerCAKey, "certificate signed by unknown authority"},
		{"expired", expiredCert, expiredKey, "expired"},
		{"not the client name", strangerCert, strangerKey, `does not name "velero" in a DNS or URI SAN`},
		{"the name in the CN only", cnOnly, cnOnlyKey, `does not name "velero" in a DNS or URI SAN`},
		{"a server certificate", serverUsed, serverUsedKey, "incompatible key usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := info(client(t, r.Addr, tc.cert, tc.key, certs.CAFile, testenv.RelayServerName))
			require.Error(t, err)
			assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			assert.NotNil(t, r.Logs.Find(func(e *logrus.Entry) bool {
				return e.Message == "csi-relay refused a client" && strings.Contains(e.Data["reason"].(string), tc.reason)
			}), "relay log says why:\n%s", r.Text())
		})
	}

	t.Run("wrong server name", func(t *testing.T) {
		_, err := info(client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, "other.test"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate is valid for "+testenv.RelayServerName)
	})
}

// TestCertificateRotation replaces the relay's certificate files while it
// runs: the next handshake uses the new ones, with no restart.
func TestCertificateRotation(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	serial := func() string {
		cfg := &tls.Config{ServerName: testenv.RelayServerName, RootCAs: x509.NewCertPool()}
		pem, _ := os.ReadFile(certs.CAFile)
		cfg.RootCAs.AppendCertsFromPEM(pem)
		cert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{cert}
		c, err := tls.Dial("tcp", r.Addr, cfg)
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	now := time.Now()
	newCert, newKey := certs.Issue(t, relay.ServerAuth, testenv.RelayServerName, now.Add(-time.Hour), now.Add(time.Hour))
	for src, dst := range map[string]string{newCert: certs.ServerCert, newKey: certs.ServerKey} {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dst+".new", b, 0o600))
		require.NoError(t, os.Rename(dst+".new", dst))
	}
	after := serial()
	assert.NotEqual(t, before, after, "the next handshake presents the new certificate")
	_, err := info(client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, testenv.RelayServerName))
	require.NoError(t, err, "calls work with the rotated certificate")
	assert.Contains(t, r.Text(), "certificate files changed")

	// A half-written key keeps the last good pair in use.
	require.NoError(t, os.WriteFile(certs.ServerKey, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600))
	assert.Equal(t, after, serial())
}

// TestDrainAndSecrets: SIGTERM (the context, in process) lets a call in
// flight finish; CSI secrets never reach the relay's log.
func TestDrainAndSecrets(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	var slow atomic.Bool
	var r *testenv.Relay
	entered := make(chan struct{}, 1)
	// The held call goes on to the driver only once the relay is draining,
	// so it is surely in flight when SIGTERM comes.
	hold := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if slow.Load() {
			entered <- struct{}{}
			assert.NotNil(t, r.Logs.Find(func(e *logrus.Entry) bool { return e.Message == "csi-relay draining calls in flight" }),
				"the relay began draining with the call held")
		}
		return h(srv, ss)
	})
	r = testenv.StartRelay(t, d.Endpoint, certs, hold)
	conn := client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, testenv.RelayServerName)
	vol := d.CreateVolume(t, "drain-src", 1<<30)

	const canary = "CANARY-relay-secret-5f2a"
	slow.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := csi.NewControllerClient(conn).CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
			SourceVolumeId: vol.GetVolumeId(), Name: "drain-snap", Secrets: map[string]string{"password": canary}})
		done <- err
	}()
	<-entered // the call is in the relay
	require.NoError(t, r.Stop())
	require.NoError(t, <-done, "a call in flight at SIGTERM completes")
	assert.Contains(t, r.Text(), "/csi.v1.Controller/CreateSnapshot")
	assert.NotContains(t, r.Text(), canary)
	_, err := info(conn)
	assert.Error(t, err, "the relay is gone after draining")
}

// TestHealthz answers 200 while the driver answers Probe, and 503 with
// the reason when it does not.
func TestHealthz(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs) // waits for 200 on /healthz

	health := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	gone := "unix://" + filepath.Join(t.TempDir(), "no-driver.sock")
	rl, err := relay.New(relay.Config{CSIAddress: gone, Listen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.ClientCAFile, ClientName: "velero", HTTPEndpoint: health,
		DrainTimeout: time.Second}, r.Logs.Logger)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rl.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, err = http.Get("http://" + health + "/healthz")
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), gone)
}

// TestConfigErrors: a relay without mutual TLS or with a bad socket
// address does not start, and says which flag is wrong.
func TestConfigErrors(t *testing.T) {
	certs := testenv.NewRelayCerts(t)
	ok := relay.Config{CSIAddress: "unix:///csi/csi.sock", Listen: "127.0.0.1:0", CertFile: certs.ServerCert,
		KeyFile: certs.ServerKey, ClientCAFile: certs.ClientCAFile, ClientName: "velero"}
	for _, tc := range []struct {
		name string
		edit func(c *relay.Config)
		want string
	}{
		{"no client CA", func(c *relay.Config) { c.ClientCAFile = "" }, "--client-ca-file is required"},
		{"no client name", func(c *relay.Config) { c.ClientName = "" }, "--client-name is required"},
		{"handshake timeout too short", func(c *relay.Config) { c.HandshakeTimeout = time.Millisecond }, "--handshake-timeout 1ms: want at least"},
		{"negative connection cap", func(c *relay.Config) { c.MaxConnections = -1 }, "--max-connections -1: want 1 or more"},
		{"max age too short", func(c *relay.Config) { c.MaxConnectionAge = time.Millisecond }, "--max-connection-age"},
		{"call timeout negative", func(c *relay.Config) { c.CallTimeout = -time.Second }, "--call-timeout"},
		{"tcp socket", func(c *relay.Config) { c.CSIAddress = "tcp://10.0.0.1:1" }, "--csi-address"},
		{"key of another cert", func(c *relay.Config) { c.KeyFile = certs.ClientKey }, "--tls-private-key-file"},
		{"CA file not PEM", func(c *relay.Config) { c.ClientCAFile = certs.ServerKey }, "--client-ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := relay.New(c, logrus.New())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
