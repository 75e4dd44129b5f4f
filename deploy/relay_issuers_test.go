package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// issuance plays cert-manager's part for cert-manager.yaml: it issues
// every Certificate from the issuer it names, as cert-manager resolves
// one (an Issuer of the Certificate's own namespace, or a ClusterIssuer
// reading its CA Secret in cert-manager's namespace), and keeps the
// Secrets it writes (tls.crt, tls.key, ca.crt) by namespace/name.
type issuance struct {
	m       relayManifests
	secrets map[string]map[string][]byte
}

func issueAll(t *testing.T, m relayManifests) *issuance {
	t.Helper()
	is := &issuance{m: m, secrets: map[string]map[string][]byte{}}
	left := map[string]*cmCertificate{}
	for _, c := range m.certs {
		left[c.Name] = c
	}
	for len(left) > 0 { // CAs first: a CA Issuer needs its Secret
		progress := false
		for name, c := range left {
			if _, err := is.issuer(c.Namespace, c.Spec.IssuerRef.Name, c.Spec.IssuerRef.Kind); err != nil {
				continue
			}
			is.secrets[c.Namespace+"/"+c.Spec.SecretName] = is.issue(t, c)
			delete(left, name)
			progress = true
		}
		require.True(t, progress, "Certificates whose issuer never gets ready: %v", left)
	}
	return is
}

// issuer finds what signs for a Certificate in ns: nil for selfSigned,
// else the CA Secret.
func (is *issuance) issuer(ns, name, kind string) (map[string][]byte, error) {
	key, secretNS := ns+"/"+name, ns
	if kind == "ClusterIssuer" {
		key, secretNS = "/"+name, "cert-manager"
	}
	iss, ok := is.m.issuers[key]
	if !ok {
		return nil, fmt.Errorf("%s %q not found in namespace %q", kind, name, ns)
	}
	if iss.Spec.SelfSigned != nil {
		return nil, nil
	}
	s, ok := is.secrets[secretNS+"/"+iss.Spec.CA.SecretName]
	if !ok {
		return nil, fmt.Errorf("%s %q: its CA Secret %s/%s is not there yet", kind, name, secretNS, iss.Spec.CA.SecretName)
	}
	return s, nil
}

// issue signs c as its issuer does and returns the Secret's data.
func (is *issuance) issue(t *testing.T, c *cmCertificate) map[string][]byte {
	t.Helper()
	ca, err := is.issuer(c.Namespace, c.Spec.IssuerRef.Name, c.Spec.IssuerRef.Kind)
	require.NoError(t, err, c.Name)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	require.NoError(t, err)
	duration := 2160 * time.Hour
	if c.Spec.Duration != nil {
		duration = c.Spec.Duration.Duration
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: c.Spec.CommonName}, DNSNames: c.Spec.DNSNames,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(duration), BasicConstraintsValid: true}
	if c.Spec.IsCA {
		tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	}
	for _, u := range c.Spec.Usages {
		switch u {
		case "server auth":
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		case "client auth":
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		case "digital signature":
			tmpl.KeyUsage |= x509.KeyUsageDigitalSignature
		default:
			t.Fatalf("%s: usage %q has no mapping here", c.Name, u)
		}
	}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent = parsePEMCert(t, ca["tls.crt"])
		block, _ := pem.Decode(ca["tls.key"])
		caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		require.NoError(t, err)
		signer = caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	caPEM := certPEM // selfSigned: ca.crt is the certificate itself
	if ca != nil {
		caPEM = ca["tls.crt"]
	}
	return map[string][]byte{"tls.crt": certPEM, "tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), "ca.crt": caPEM}
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// copyCAs makes the two Secrets of public CA certificates that the README
// copies across namespaces (step 1), from the CA Secrets.
func (is *issuance) copyCAs(t *testing.T) {
	t.Helper()
	client, server := is.m.certs["csi-relay-client-ca"], is.m.certs["csi-relay-server-ca"]
	require.NotNil(t, client)
	require.NotNil(t, server)
	is.secrets[server.Namespace+"/"+clientCASecret] = map[string][]byte{"ca.crt": is.secrets[client.Namespace+"/"+client.Spec.SecretName]["ca.crt"]}
	vslCA := is.m.vsl.Spec.Config["tlsCASecretName"]
	is.secrets[client.Namespace+"/"+vslCA] = map[string][]byte{"ca.crt": is.secrets[server.Namespace+"/"+server.Spec.SecretName]["ca.crt"]}
}

// TestRelayIssuersAdmitOnlyVelero issues every certificate of
// cert-manager.yaml as cert-manager would, runs the built binary's relay
// with the sidecar patch's own flags and mounts in front of the real CSI
// driver, and dials it with the certificates a cluster could hold: Velero's
// (from its Secret, trusting the relay's CA from tlsCASecretName) works;
// one from the server's CA, one from an Issuer of another namespace, and
// one a Certificate outside Velero's namespace asks of the manifests'
// issuers (which cert-manager cannot find) are refused.
func TestRelayIssuersAdmitOnlyVelero(t *testing.T) {
	m := loadRelay(t)
	is := issueAll(t, m)
	is.copyCAs(t)
	spec, relay, _ := patched(t, m)
	d := testenv.StartGCEPDDriver(t)

	// The relay's mounts as files, under a temp dir.
	root := t.TempDir()
	secretOf := map[string]string{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretOf[v.Name] = v.Secret.SecretName
		}
	}
	for _, vm := range relay.VolumeMounts {
		name, ok := secretOf[vm.Name]
		if !ok {
			continue
		}
		data, ok := is.secrets[m.patch.Namespace+"/"+name]
		require.True(t, ok, "Secret %s/%s, mounted at %s, is issued or copied", m.patch.Namespace, name, vm.MountPath)
		dir := filepath.Join(root, vm.MountPath)
		require.NoError(t, os.MkdirAll(dir, 0o700))
		for k, b := range data {
			require.NoError(t, os.WriteFile(filepath.Join(dir, k), b, 0o600))
		}
	}
	flags := flagValues(relay.Args[1:])
	r := testenv.StartRelayCommand(t, "", func(listen, health string) []string {
		var args []string
		for _, a := range relay.Args[1:] {
			k, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			switch k {
			case "csi-address":
				a = "--csi-address=" + d.Endpoint
			case "listen":
				a = "--listen=" + listen
			case "http-endpoint":
				a = "--http-endpoint=" + health
			case "tls-cert-file", "tls-private-key-file", "client-ca-file":
				a = "--" + k + "=" + filepath.Join(root, flags[k])
			}
			args = append(args, a)
		}
		return args
	})

	cfg := m.vsl.Spec.Config
	veleroNS := cfg["tlsSecretNamespace"]
	relayCA := is.secrets[veleroNS+"/"+cfg["tlsCASecretName"]]["ca.crt"]
	require.NotEmpty(t, relayCA, "the VSL's tlsCASecretName holds the relay's CA")
	serverName := m.certs["csi-relay-server"].Spec.DNSNames[0]
	dial := func(secret map[string][]byte) error {
		cert, err := tls.X509KeyPair(secret["tls.crt"], secret["tls.key"])
		require.NoError(t, err)
		roots := x509.NewCertPool()
		require.True(t, roots.AppendCertsFromPEM(relayCA))
		conn, err := grpc.NewClient("passthrough:///"+r.Addr, grpc.WithTransportCredentials(credentials.NewTLS(
			&tls.Config{RootCAs: roots, ServerName: serverName, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})))
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		return err
	}

	t.Run("Velero's client certificate", func(t *testing.T) {
		secret := is.secrets[veleroNS+"/"+cfg["tlsSecretName"]]
		require.NotNil(t, secret, "the VSL's tlsSecretName is issued")
		assert.NoError(t, dial(secret))
	})

	attacker := func(ns string, ref string, kind string) (map[string][]byte, error) {
		c := &cmCertificate{}
		c.Name, c.Namespace = "steal", ns
		c.Spec.SecretName, c.Spec.CommonName, c.Spec.DNSNames = "stolen", "velero", []string{"velero"}
		c.Spec.Usages = []string{"client auth", "digital signature"}
		c.Spec.IssuerRef.Name, c.Spec.IssuerRef.Kind = ref, kind
		if _, err := is.issuer(ns, ref, kind); err != nil {
			return nil, err
		}
		return is.issue(t, c), nil
	}
	t.Run("another namespace cannot use the manifests' issuers", func(t *testing.T) {
		for key := range m.issuers {
			ns, name, _ := strings.Cut(key, "/")
			for _, kind := range []string{"Issuer", "ClusterIssuer"} {
				_, err := attacker("team-a", name, kind)
				assert.Error(t, err, "%s %s (of namespace %q) from namespace team-a", kind, name, ns)
			}
		}
	})
	t.Run("the server's CA", func(t *testing.T) {
		// A driver-namespace Certificate for a client: kube-system's Issuer signs it.
		server := m.certs["csi-relay-server"]
		secret, err := attacker(server.Namespace, server.Spec.IssuerRef.Name, server.Spec.IssuerRef.Kind)
		require.NoError(t, err)
		before := refusals(r, "certificate signed by unknown authority")
		assertRefused(t, r, dial(secret), "certificate signed by unknown authority", before)
	})
	t.Run("an Issuer in another namespace", func(t *testing.T) {
		// team-a's own CA, as the manifests lay one out.
		m2 := m
		m2.issuers = map[string]*cmIssuer{}
		for k, v := range m.issuers {
			m2.issuers[k] = v
		}
		own := *m.issuers["velero/csi-relay-client-ca"]
		own.Namespace = "team-a"
		m2.issuers["team-a/csi-relay-client-ca"] = &own
		self := *m.issuers["velero/csi-relay-selfsigned"]
		self.Namespace = "team-a"
		m2.issuers["team-a/csi-relay-selfsigned"] = &self
		team := &issuance{m: m2, secrets: is.secrets}
		ca := *m.certs["csi-relay-client-ca"]
		ca.Namespace = "team-a"
		team.secrets["team-a/"+ca.Spec.SecretName] = team.issue(t, &ca)
		is2 := &issuance{m: m2, secrets: team.secrets}
		c := *m.certs["csi-relay-client"]
		c.Namespace = "team-a"
		secret := is2.issue(t, &c)
		before := refusals(r, "certificate signed by unknown authority")
		assertRefused(t, r, dial(secret), "certificate signed by unknown authority", before)
	})
}

// assertRefused: the handshake failed, and the relay logged one more
// refusal for reason than the before it had.
func assertRefused(t *testing.T, r *testenv.Relay, err error, reason string, before int) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Eventually(t, func() bool { return refusals(r, reason) > before }, 5*time.Second, 50*time.Millisecond,
		"the relay logs the refusal: %s\n%s", reason, r.Text())
}

// refusals counts the relay's log lines refusing a client for reason.
func refusals(r *testenv.Relay, reason string) int {
	n := 0
	for _, l := range strings.Split(r.Text(), "\n") {
		if strings.Contains(l, "csi-relay refused a client") && strings.Contains(l, reason) {
			n++
		}
	}
	return n
}
