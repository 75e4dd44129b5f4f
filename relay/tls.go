package relay

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// certSource holds the relay's certificate and the client CA as last read
// from their files. Every handshake re-reads the three small files, so a
// Secret that cert-manager rotates is used from the next connection on,
// with no restart; a half-written set keeps the last good one in use.
type certSource struct {
	cfg Config
	log logrus.FieldLogger

	mu      sync.Mutex
	raw     [3][]byte // certificate, key, client CA as last read
	bad     [3][]byte // a set that did not load, so it is reported once
	cert    *tls.Certificate
	roots   *x509.CertPool
	minVer  uint16
	refused *logLimiter
}

func newCertSource(cfg Config, log logrus.FieldLogger) (*certSource, error) {
	for flag, v := range map[string]string{"--tls-cert-file": cfg.CertFile, "--tls-private-key-file": cfg.KeyFile, "--client-ca-file": cfg.ClientCAFile} {
		if v == "" {
			return nil, fmt.Errorf("%s is required: the relay serves only mutual TLS", flag)
		}
	}
	s := &certSource{cfg: cfg, log: log, minVer: tls.VersionTLS13, refused: newLogLimiter(log)}
	if cfg.AllowTLS12 {
		s.minVer = tls.VersionTLS12
	}
	raw, err := s.read()
	if err != nil {
		return nil, err
	}
	if err := s.load(raw); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *certSource) read() ([3][]byte, error) {
	var raw [3][]byte
	for i, path := range []string{s.cfg.CertFile, s.cfg.KeyFile, s.cfg.ClientCAFile} {
		b, err := os.ReadFile(path)
		if err != nil {
			return raw, err
		}
		raw[i] = b
	}
	return raw, nil
}

// load parses a set of files and makes it the one in use.
func (s *certSource) load(raw [3][]byte) error {
	cert, err := tls.X509KeyPair(raw[0], raw[1])
	if err != nil {
		return fmt.Errorf("--tls-cert-file %s / --tls-private-key-file %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(raw[2]) {
		return fmt.Errorf("--client-ca-file %s: no PEM certificate in it", s.cfg.ClientCAFile)
	}
	s.raw, s.cert, s.roots = raw, &cert, roots
	return nil
}

// current returns the certificate and client CA to use now.
func (s *certSource) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, err := s.read()
	if err == nil && !equal(raw, s.raw) {
		if equal(raw, s.bad) {
			return s.cert, s.roots
		}
		if err = s.load(raw); err == nil {
			s.log.Info("csi-relay: certificate files changed; new connections use the new ones")
			return s.cert, s.roots
		}
		s.bad = raw
	}
	if err != nil {
		s.log.WithError(err).Warn("csi-relay: certificate files unreadable or incomplete; still using the last good ones")
	}
	return s.cert, s.roots
}

func equal(a, b [3][]byte) bool {
	return bytes.Equal(a[0], b[0]) && bytes.Equal(a[1], b[1]) && bytes.Equal(a[2], b[2])
}

// serverConfig is the TLS front: TLS 1.3 (1.2 if asked), a client
// certificate required, and every refusal logged with its reason.
func (s *certSource) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: s.minVer,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cert, roots := s.current()
			remote := hello.Conn.RemoteAddr().String()
			return &tls.Config{
				MinVersion:   s.minVer,
				Certificates: []tls.Certificate{*cert},
				NextProtos:   []string{"h2"},
				// Verified below, so that each refusal is logged with why.
				ClientAuth: tls.RequestClientCert,
				VerifyConnection: func(cs tls.ConnectionState) error {
					err := verifyClient(cs, roots, s.cfg.ClientName)
					if err != nil {
						// The reason quotes the client's unverified names:
						// bounded, as is the rate of these lines.
						s.refused.Warn(logrus.Fields{"peer": remote, "reason": bounded(err.Error())}, "csi-relay refused a client")
					}
					return err
				},
			}, nil
		},
	}
}

// verifyClient checks the client's certificate against the client CA and
// the accepted client name, which must be one of its DNS or URI SANs (a
// CN is not checked: it is no name a CA constrains).
func verifyClient(cs tls.ConnectionState, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the client sent no certificate (mutual TLS is required)")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return fmt.Errorf("client certificate %s: %w", certNames(leaf), err)
	}
	if !hasName(leaf, name) {
		return fmt.Errorf("client certificate %s does not name %q in a DNS or URI SAN (--client-name)", certNames(leaf), name)
	}
	return nil
}

func hasName(c *x509.Certificate, name string) bool {
	if name == "" {
		return false
	}
	if slices.Contains(c.DNSNames, name) {
		return true
	}
	return slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.String() == name })
}

// certNames says who a certificate is for: its CN and first SANs, each
// cut to a few dozen bytes, with the count of the rest (a refused
// certificate is a stranger's, of any size).
func certNames(c *x509.Certificate) string {
	const shown, long = 2, 48
	cut := func(s string) string {
		if len(s) > long {
			return strings.ToValidUTF8(s[:long], "") + "…"
		}
		return s
	}
	names := []string{"CN=" + cut(c.Subject.CommonName)}
	for _, d := range c.DNSNames {
		names = append(names, "DNS:"+cut(d))
	}
	for _, u := range c.URIs {
		names = append(names, "URI:"+cut(u.String()))
	}
	if len(names) > shown+1 {
		names = append(names[:shown+1], fmt.Sprintf("(%d more SANs)", len(names)-shown-1))
	}
	names = append(names, "serial="+cut(fmt.Sprintf("%x", c.SerialNumber)))
	return "[" + strings.Join(names, " ") + "]"
}
