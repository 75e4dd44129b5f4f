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
	assert.Contains(t, out.String(), "kubectl -n kube-system create secret generic csi-relay-server-tls --from-file=tls.crt="+filepath.Join(dir, "server.crt"))
	assert.Contains(t, out.String(), "kubectl -n velero create secret generic csi-relay-client-tls --from-file=tls.crt="+filepath.Join(dir, "client.crt"))

	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		block, _ := pem.Decode(b)
		require.NotNil(t, block, name)
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		return c
	}
	ca, server, client := read("ca.crt"), read("server.crt"), read("client.crt")
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: "relay.kube-system.svc", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	assert.NoError(t, err)
	_, err = server.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err, "the server certificate is no client certificate")
	_, err = client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err)
	assert.Equal(t, "velero", client.Subject.CommonName)
	assert.Contains(t, server.DNSNames, "relay")
	for _, c := range []*x509.Certificate{ca, server, client} {
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
	assert.NoFileExists(t, filepath.Join(dir, "ca.key"), "the CA key is not kept")

	errs.Reset()
	code = relay.Main(context.Background(), []string{"certs", "--server-dns", "x", "--out", dir}, &out, &errs)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs.String(), "exists already")
	errs.Reset()
	code = relay.Main(context.Background(), []string{"certs", "--out", t.TempDir()}, &out, &errs)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs.String(), "--server-dns is required")
}
