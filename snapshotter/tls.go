package snapshotter

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"

	"example.io/velero-plugin-s3csi/config"
)

// clientTLS is the mutual-TLS material for a network endpoint (a
// csi-relay), read at Init so that rotated certificates are used by the
// next Init. Nothing of it is logged.
type clientTLS struct {
	cfg         *tls.Config
	fingerprint string // what the connection cache compares
}

// loadTLS reads the client certificate, key and CA from the TLS Secret or
// from the files that cfg names; nil for a unix socket.
func (s *Snapshotter) loadTLS(ctx context.Context, c *config.Snapshotter) (*clientTLS, error) {
	if !c.Network() {
		return nil, nil
	}
	var cert, key, ca []byte
	var from string
	if c.TLSSecretName != "" {
		from = fmt.Sprintf("TLS Secret %s/%s", c.TLSSecretNamespace, c.TLSSecretName)
		data, err := s.kube.Secret(ctx, c.TLSSecretNamespace, c.TLSSecretName)
		if err != nil {
			return nil, fmt.Errorf("read %s (tlsSecretName): %w", from, err)
		}
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(data[k]) == 0 {
				return nil, fmt.Errorf("%s has no %q: it needs tls.crt, tls.key and ca.crt (cert-manager's layout)", from, k)
			}
		}
		cert, key, ca = data["tls.crt"], data["tls.key"], data["ca.crt"]
		if c.TLSCASecretName != "" {
			// The relay's CA, apart from the client's own (deploy/csi-relay).
			caFrom := fmt.Sprintf("CA Secret %s/%s", c.TLSSecretNamespace, c.TLSCASecretName)
			caData, err := s.kube.Secret(ctx, c.TLSSecretNamespace, c.TLSCASecretName)
			if err != nil {
				return nil, fmt.Errorf("read %s (tlsCASecretName): %w", caFrom, err)
			}
			if len(caData["ca.crt"]) == 0 {
				return nil, fmt.Errorf("%s has no \"ca.crt\": it holds the CA that signed the relay's certificate", caFrom)
			}
			ca = caData["ca.crt"]
		}
	} else {
		from = "tlsCertFile/tlsKeyFile/tlsCAFile"
		for _, f := range []struct {
			key, path string
			dst       *[]byte
		}{{"tlsCertFile", c.TLSCertFile, &cert}, {"tlsKeyFile", c.TLSKeyFile, &key}, {"tlsCAFile", c.TLSCAFile, &ca}} {
			b, err := os.ReadFile(f.path)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", f.key, f.path, err)
			}
			*f.dst = b
		}
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("client certificate and key from %s: %w", from, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("CA from %s: no PEM certificate in it", from)
	}
	name := c.TLSServerName
	if name == "" {
		name = endpointHost(c.Endpoint)
	}
	h := sha256.New()
	for _, b := range [][]byte{cert, key, ca, []byte(name)} {
		h.Write(b)
		h.Write([]byte{0})
	}
	return &clientTLS{
		cfg:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: name},
		fingerprint: hex.EncodeToString(h.Sum(nil)),
	}, nil
}

// endpointHost is the host of tcp://host:port or dns:///host:port.
func endpointHost(endpoint string) string {
	hostport := strings.TrimPrefix(strings.TrimPrefix(endpoint, "tcp://"), "dns:///")
	host, _, _ := net.SplitHostPort(hostport)
	return host
}

// target is the gRPC target of an endpoint: the unix socket as it is,
// tcp://host:port dialled as given, dns:///host:port through DNS.
func target(endpoint string) string {
	if hostport, ok := strings.CutPrefix(endpoint, "tcp://"); ok {
		return "passthrough:///" + hostport
	}
	return endpoint
}
