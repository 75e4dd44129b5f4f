package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/config"
)

// A network endpoint (a csi-relay) takes mutual TLS from exactly one
// source; plain TCP and TLS keys on a unix socket are refused with why.
func TestSnapshotterEndpoints(t *testing.T) {
	secret := []string{"tlsSecretName", "relay-tls", "tlsSecretNamespace", "velero"}
	files := []string{"tlsCertFile", "/tls/tls.crt", "tlsKeyFile", "/tls/tls.key", "tlsCAFile", "/tls/ca.crt"}
	for _, tc := range []struct {
		name     string
		kv       []string
		endpoint string // want, when no error
		network  bool
		err      string
	}{
		{"default socket", nil, "unix:///var/lib/kubelet/plugins/d.example.io/csi.sock", false, ""},
		{"unix short form", []string{"endpoint", "unix:/run/csi.sock"}, "unix:///run/csi.sock", false, ""},
		{"tcp with a Secret", append([]string{"endpoint", "tcp://relay.kube-system.svc:8443"}, secret...), "tcp://relay.kube-system.svc:8443", true, ""},
		{"dns with files", append([]string{"endpoint", "dns:///relay.kube-system.svc:8443"}, files...), "dns:///relay.kube-system.svc:8443", true, ""},
		{"plain tcp", []string{"endpoint", "tcp://relay:8443"}, "", true, "plain TCP is refused"},
		{"tcp without port", append([]string{"endpoint", "tcp://relay"}, secret...), "", true, `invalid value for "endpoint" in VSL config: "tcp://relay"`},
		{"dns with a resolver", append([]string{"endpoint", "dns://8.8.8.8/relay:8443"}, secret...), "", true, "names a DNS resolver"},
		{"http", []string{"endpoint", "https://relay:8443"}, "", true, "is not a unix:///path/to/csi.sock, tcp://host:port or dns:///host:port address"},
		{"both sources", append(append([]string{"endpoint", "tcp://relay:8443"}, secret...), files...), "", true, "not both"},
		{"half a Secret", []string{"endpoint", "tcp://relay:8443", "tlsSecretName", "x"}, "", true, "tlsSecretName and tlsSecretNamespace go together"},
		{"two of three files", []string{"endpoint", "tcp://relay:8443", "tlsCertFile", "/a", "tlsKeyFile", "/b"}, "", true, "set all three"},
		{"relative file", []string{"endpoint", "tcp://relay:8443", "tlsCertFile", "a.crt"}, "", true, `invalid value for "tlsCertFile" in VSL config: "a.crt" is not an absolute path`},
		{"tls on a socket", append([]string{"endpoint", "unix:///csi.sock"}, secret...), "", false, "apply only to a tcp:// or dns:/// endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vsl := map[string]string{"driver": "d.example.io"}
			for i := 0; i+1 < len(tc.kv); i += 2 {
				vsl[tc.kv[i]] = tc.kv[i+1]
			}
			s, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: vsl})
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.endpoint, s.Endpoint)
			assert.Equal(t, tc.network, s.Network())
		})
	}

	t.Run("the TLS keys are location keys, not ConfigMap tunables", func(t *testing.T) {
		cm := config.Layer{Name: "ConfigMap velero/csi-config", TunablesOnly: true, Values: map[string]string{"tlsCAFile": "/ca.crt"}}
		_, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d"}}, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "tlsCAFile" is not allowed in ConfigMap velero/csi-config`)
	})
	t.Run("the settings line names the TLS source, never its contents", func(t *testing.T) {
		s, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{
			"driver": "d", "endpoint": "tcp://relay:8443", "tlsSecretName": "relay-tls", "tlsSecretNamespace": "velero", "tlsServerName": "relay.test"}})
		require.NoError(t, err)
		f := s.Fields()
		assert.Equal(t, "velero/relay-tls (tls.crt, ca.crt; tls.key <redacted>) (VSL config)", f["tlsSecretName"])
		assert.Equal(t, "relay.test (VSL config)", f["tlsServerName"])
	})
}

// A VSL with spec.credential: Velero hands over credentialsFile, and the
// error names spec.credential, not an unknown key the user never wrote.
func TestSnapshotterRefusesVSLCredential(t *testing.T) {
	_, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "credentialsFile": "/credentials/velero-csi-cloud"}})
	require.Error(t, err)
	assert.Equal(t, `invalid value for "credentialsFile" in VSL config: "/credentials/velero-csi-cloud" is the file of the VSL's spec.credential, `+
		`which Velero hands over, and example.io/csi uses no cloud credentials: remove spec.credential from the VolumeSnapshotLocation `+
		`(the driver's own CSI secrets come from snapshotterSecretName/snapshotterSecretNamespace)`, err.Error())
}
