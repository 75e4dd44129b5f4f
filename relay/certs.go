package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made for one relay and its client: the
// `csi-relay certs` command makes one, issues the server and client
// certificates, and throws its key away.
type CA struct {
	PEM  []byte
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Usage says what an issued certificate is for.
type Usage int

const (
	ServerAuth Usage = iota // the relay
	ClientAuth              // the plugin
)

// NewCA makes an ECDSA P-256 CA valid from notBefore to notAfter.
func NewCA(name string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}, nil
}

// Issue signs a new ECDSA P-256 key for name (the CN, and a DNS name along
// with dns) and returns the certificate and key as PEM.
func (ca *CA) Issue(u Usage, name string, dns []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ext := x509.ExtKeyUsageServerAuth
	if u == ClientAuth {
		ext = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		DNSNames:  append([]string{name}, dns...),
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{ext},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// CertFiles names what `csi-relay certs` writes.
var CertFiles = []string{"ca.crt", "server.crt", "server.key", "client.crt", "client.key"}

// WriteCerts makes a CA, a server certificate for serverDNS and a client
// certificate for clientName, valid for validity, into dir: keys 0600,
// certificates 0644. It refuses to overwrite any of the files.
func WriteCerts(dir string, serverDNS []string, clientName string, validity time.Duration) error {
	if len(serverDNS) == 0 {
		return errors.New("--server-dns is required: the DNS name the plugin dials (the relay Service's name)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range CertFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s exists already: choose an empty --out folder", filepath.Join(dir, f))
		}
	}
	from := time.Now().Add(-5 * time.Minute) // clock skew between nodes
	to := from.Add(validity)
	ca, err := NewCA("velero-plugin-s3csi csi-relay CA", from, to)
	if err != nil {
		return err
	}
	srvCert, srvKey, err := ca.Issue(ServerAuth, serverDNS[0], serverDNS[1:], from, to)
	if err != nil {
		return err
	}
	cliCert, cliKey, err := ca.Issue(ClientAuth, clientName, nil, from, to)
	if err != nil {
		return err
	}
	for i, data := range [][]byte{ca.PEM, srvCert, srvKey, cliCert, cliKey} {
		mode := os.FileMode(0o644)
		if filepath.Ext(CertFiles[i]) == ".key" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, CertFiles[i]), data, mode); err != nil {
			return err
		}
	}
	return nil
}
