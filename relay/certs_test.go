package relay_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/relay"
)

// `csi-relay certs` writes a CA, a server and a client certificate that
// verify against it for their own use only, ECDSA P-256, valid for the
// asked time, keys 0600; it never overwrites, and prints the kubectl lines.
func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var out, errs bytes.Buffer
	code := relay.Main(context.Background(), []string{"certs", "--server-dns", "relay.kube-system.svc",
		"--server-dns", "relay", "--out", dir, "--server-namespace", "kube-system"}, &out, &errs)
	require.Equal(t, 0, code, errs.String())
	p := func(f string) string { return filepath.Join(dir, f) }
	for _, line := range []string{
		"kubectl -n kube-system create secret generic csi-relay-server-tls --from-file=tls.crt=" + p("server.crt") + " --from-file=tls.key=" + p("server.key") + " --from-file=ca.crt=" + p("server-ca.crt"),
		"kubectl -n kube-system create secret generic csi-relay-client-ca --from-file=ca.crt=" + p("client-ca.crt"),
		"kubectl -n velero create secret generic csi-relay-client-tls --from-file=tls.crt=" + p("client.crt") + " --from-file=tls.key=" + p("client.key") + " --from-file=ca.crt=" + p("client-ca.crt"),
		"kubectl -n velero create secret generic csi-relay-server-ca --from-file=ca.crt=" + p("server-ca.crt"),
	} {
		assert.Contains(t, out.String(), line+"\n")
	}

	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		block, _ := pem.Decode(b)
		require.NotNil(t, block, name)
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		return c
	}
	serverCA, clientCA, server, client := read("server-ca.crt"), read("client-ca.crt"), read("server.crt"), read("client.crt")
	serverRoots, clientRoots := x509.NewCertPool(), x509.NewCertPool()
	serverRoots.AddCert(serverCA)
	clientRoots.AddCert(clientCA)
	_, err := server.Verify(x509.VerifyOptions{Roots: serverRoots, DNSName: "relay.kube-system.svc", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	assert.NoError(t, err)
	_, err = server.Verify(x509.VerifyOptions{Roots: serverRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err, "the server certificate is no client certificate")
	_, err = client.Verify(x509.VerifyOptions{Roots: clientRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err)
	// Two CAs: neither side's certificate passes for the other's.
	_, err = client.Verify(x509.VerifyOptions{Roots: serverRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	assert.Error(t, err, "the server CA does not sign the client certificate")
	_, err = server.Verify(x509.VerifyOptions{Roots: clientRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	assert.Error(t, err, "the client CA does not sign the server certificate")
	assert.NotEqual(t, serverCA.PublicKey, clientCA.PublicKey)
	assert.Equal(t, []string{"velero"}, client.DNSNames, "--client-name is the client's DNS SAN, which the relay matches")
	assert.Contains(t, server.DNSNames, "relay")
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "a new --out folder is 0700")
	for _, c := range []*x509.Certificate{serverCA, clientCA, server, client} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		require.True(t, ok)
		assert.Equal(t, elliptic.P256(), pub.Curve)
		assert.WithinDuration(t, time.Now().Add(365*24*time.Hour), c.NotAfter, time.Hour)
	}
	for _, f := range relay.CertFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		if filepath.Ext(f) == ".key" {
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, len(relay.CertFiles), "no CA key is kept, nothing else is written")

	errs.Reset()
	code = relay.Main(context.Background(), []string{"certs", "--server-dns", "x", "--out", dir}, &out, &errs)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs.String(), "exists already")
	errs.Reset()
	code = relay.Main(context.Background(), []string{"certs", "--out", t.TempDir()}, &out, &errs)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs.String(), "--server-dns is required")
}

// Each refusal of `csi-relay certs` says why and leaves the --out folder
// as it was: a planted symlink (dangling or not), a group- or
// world-writable folder, a symlinked folder, a validity of zero, below
// zero or past the maximum, an empty name.
func TestCertsRefusals(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) // dir exists, 0700, empty
		args  []string
		want  string
	}{
		{"dangling symlink planted", func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink(victim, filepath.Join(dir, "server.key")))
		}, nil, "server.key exists already (a file or a symlink)"},
		{"symlink to a file planted", func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "target")
			require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
			require.NoError(t, os.Symlink(target, filepath.Join(dir, "client.key")))
		}, nil, "client.key exists already"},
		{"world-writable folder", func(t *testing.T, dir string) { require.NoError(t, os.Chmod(dir, 0o777)) }, nil, "is writable by group or others (mode 0777)"},
		{"group-writable folder", func(t *testing.T, dir string) { require.NoError(t, os.Chmod(dir, 0o770)) }, nil, "is writable by group or others (mode 0770)"},
		{"validity 0", nil, []string{"--validity", "0"}, "--validity 0s: want more than 0"},
		{"validity -1h", nil, []string{"--validity=-1h"}, "--validity -1h0m0s: want more than 0"},
		{"validity 50 years", nil, []string{"--validity", "438000h"}, "want at most"},
		{"empty client name", nil, []string{"--client-name", ""}, "--client-name is empty"},
		{"blank client name", nil, []string{"--client-name", "  "}, "--client-name is empty"},
		{"empty server name", nil, []string{"--server-dns", "relay,"}, "a name is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			require.NoError(t, os.Mkdir(dir, 0o700))
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := listing(t, dir)
			var out, errs bytes.Buffer
			args := append([]string{"certs", "--server-dns", "relay.kube-system.svc", "--out", dir}, tc.args...)
			code := relay.Main(context.Background(), args, &out, &errs)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs.String(), tc.want)
			assert.Empty(t, out.String(), "no kubectl lines on a refusal")
			assert.Equal(t, before, listing(t, dir), "nothing written")
			assert.NoFileExists(t, victim, "nothing written through a symlink")
		})
	}

	t.Run("symlinked folder", func(t *testing.T) {
		real := t.TempDir()
		link := filepath.Join(t.TempDir(), "link")
		require.NoError(t, os.Symlink(real, link))
		var out, errs bytes.Buffer
		code := relay.Main(context.Background(), []string{"certs", "--server-dns", "x", "--out", link}, &out, &errs)
		assert.Equal(t, 1, code)
		assert.Contains(t, errs.String(), "is a symlink")
		assert.Empty(t, listing(t, real))
	})
}

// listing is each name in dir with its mode and link target.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+" "+e.Type().String()+" "+target)
	}
	return out
}
