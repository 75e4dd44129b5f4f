package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/relay"
)

// The built binary's csi-relay, started with the flags a kubernetes-csi
// sidecar takes (--csi-address as a bare path, --http-endpoint, -v,
// --logging-format), forwards calls to the real driver; with the old
// spellings it still does, and logs a deprecation warning for each.
func TestBinaryTakesSidecarFlags(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	sock, ok := strings.CutPrefix(d.Endpoint, "unix://")
	require.True(t, ok && filepath.IsAbs(sock), "the driver's socket %s is an absolute path", d.Endpoint)
	certs := testenv.NewRelayCerts(t)

	for _, tc := range []struct {
		name       string
		flags      func(listen, health string) []string
		deprecated map[string]string // old flag: the one to use
	}{
		{"sidecar spellings", func(listen, health string) []string {
			return []string{"--csi-address=" + sock, "--listen=" + listen, "--tls-cert-file=" + certs.ServerCert,
				"--tls-private-key-file=" + certs.ServerKey, "--client-ca-file=" + certs.ClientCAFile, "--client-name=velero",
				"--http-endpoint=" + health, "-v=5", "--logging-format=json"}
		}, nil},
		{"old spellings", func(listen, health string) []string {
			return []string{"--csi-address", "unix://" + sock, "--listen", listen, "--tls-cert-file", certs.ServerCert,
				"--tls-key-file", certs.ServerKey, "--client-ca-file", certs.ClientCAFile, "--client-name", "velero",
				"--health-listen", health, "--log-level", "debug", "--logging-format=json"}
		}, map[string]string{"--health-listen": "--http-endpoint", "--tls-key-file": "--tls-private-key-file", "--log-level": "-v"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.StartRelayCommand(t, "", tc.flags) // returns once /healthz, which Probes the driver, says 200
			conn := client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, testenv.RelayServerName)
			resp, err := info(conn)
			require.NoError(t, err)
			assert.Equal(t, testenv.GCEPDDriverName, resp.GetName())

			// A snapshot made through the relay is on the driver.
			slug := strings.ReplaceAll(tc.name, " ", "-")
			vol := d.CreateVolume(t, "flags-"+slug, 1<<30)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			snap, err := csi.NewControllerClient(conn).CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
				SourceVolumeId: vol.GetVolumeId(), Name: "snap-" + slug})
			require.NoError(t, err)
			list, err := d.Control.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()})
			require.NoError(t, err)
			require.Len(t, list.GetEntries(), 1, "the driver itself lists the snapshot")
			assert.Equal(t, vol.GetVolumeId(), list.GetEntries()[0].GetSnapshot().GetSourceVolumeId())
			require.NoError(t, r.Stop())

			warned := map[string]string{}
			var serving map[string]any
			for _, line := range bytes.Split(bytes.TrimSpace([]byte(r.Text())), []byte("\n")) {
				var e map[string]any
				require.NoError(t, json.Unmarshal(line, &e), "--logging-format=json: every line is a JSON object: %s", line)
				if e["level"] == "warning" && strings.Contains(e["msg"].(string), "deprecated flag") {
					warned[e["flag"].(string)] = e["use"].(string)
				}
				if e["msg"] == "csi-relay serving" {
					serving = e
				}
			}
			assert.Equal(t, len(tc.deprecated), len(warned), "one warning per deprecated flag: %v", warned)
			for old, use := range tc.deprecated {
				assert.Equal(t, use, warned[old], "the warning for %s names its replacement", old)
			}
			require.NotNil(t, serving, "the relay logged that it serves:\n%s", r.Text())
			assert.Equal(t, r.Health, serving["httpEndpoint"])
		})
	}
}

// Flags that cannot start a relay: each fails with the flag and why,
// before anything listens.
func TestFlagErrors(t *testing.T) {
	certs := testenv.NewRelayCerts(t)
	base := []string{"--listen=127.0.0.1:0", "--tls-cert-file=" + certs.ServerCert,
		"--tls-private-key-file=" + certs.ServerKey, "--client-ca-file=" + certs.ClientCAFile, "--client-name=velero"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"relative socket path", []string{"--csi-address=csi.sock"}, `--csi-address "csi.sock": want the driver's socket as an absolute path, /csi/csi.sock, or unix:///csi/csi.sock`},
		{"relative unix:// path", []string{"--csi-address=unix://csi.sock"}, `--csi-address "unix://csi.sock"`},
		{"tcp driver", []string{"--csi-address=tcp://127.0.0.1:1"}, `--csi-address "tcp://127.0.0.1:1"`},
		{"old and new health flag", []string{"--health-listen=127.0.0.1:1", "--http-endpoint=127.0.0.1:2"},
			"--health-listen and --http-endpoint are the same flag: give only --http-endpoint (--health-listen is deprecated)"},
		{"old and new key flag", []string{"--tls-key-file=" + certs.ServerKey},
			"--tls-key-file and --tls-private-key-file are the same flag"},
		{"-v and --log-level", []string{"-v=4", "--log-level=debug"}, "-v and --log-level both set: give only -v"},
		{"negative -v", []string{"--v=-1"}, "-v -1: want 0 or more"},
		{"bad --log-level", []string{"--log-level=loud"}, `--log-level "loud"`},
		{"bad --logging-format", []string{"--logging-format=xml"}, `--logging-format "xml": want text or json`},
		{"empty --client-name", []string{"--client-name="}, "--client-name is required"},
		{"zero --max-connections", []string{"--csi-address=/csi/csi.sock", "--max-connections=-3"}, "--max-connections -3: want 1 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := relay.Main(context.Background(), append(append([]string{}, base...), tc.args...), &stdout, &stderr)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr.String(), tc.want)
		})
	}
}

// Both forms of --csi-address make a relay; the in-process Config takes
// them as the flag does.
func TestBarePathOrUnixURL(t *testing.T) {
	certs := testenv.NewRelayCerts(t)
	for _, addr := range []string{"/csi/csi.sock", "unix:///csi/csi.sock"} {
		_, err := relay.New(relay.Config{CSIAddress: addr, Listen: "127.0.0.1:0", CertFile: certs.ServerCert,
			KeyFile: certs.ServerKey, ClientCAFile: certs.ClientCAFile, ClientName: "velero"}, logrus.New())
		assert.NoError(t, err, addr)
	}
}
