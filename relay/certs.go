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
	"strings"
	"syscall"
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
	ext := x509.ExtKeyUsageServerAuth
	if u == ClientAuth {
		ext = x509.ExtKeyUsageClientAuth
	}
	return ca.Sign(&x509.Certificate{
		Subject:   pkix.Name{CommonName: name},
		DNSNames:  append([]string{name}, dns...),
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{ext},
	})
}

// Sign signs a new ECDSA P-256 key into tmpl (a new serial number is set)
// and returns the certificate and key as PEM.
func (ca *CA) Sign(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
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

// CertFiles names what `csi-relay certs` writes: two CAs' certificates
// (their keys are thrown away), the relay's pair and Velero's pair.
var CertFiles = []string{"server-ca.crt", "client-ca.crt", "server.crt", "server.key", "client.crt", "client.key"}

// MaxValidity is the longest validity `csi-relay certs` issues for: the CA
// keys are not kept, so the set is replaced, never renewed, and a
// certificate stolen once should not work for a decade.
const MaxValidity = 5 * 365 * 24 * time.Hour

// WriteCerts makes two CAs, one that signs the relay's certificate for
// serverDNS and one that signs Velero's client certificate for
// clientName (a DNS SAN, the relay's --client-name), all valid for
// validity, into dir: keys 0600, certificates 0644, a new dir 0700. The
// relay trusts only the client CA and the plugin only the server CA, so
// neither side's certificate passes for the other's. It checks
// everything before it writes, refuses a group- or world-writable dir
// and any existing file or symlink among its names, and on a failure
// part-way removes what it wrote.
func WriteCerts(dir string, serverDNS []string, clientName string, validity time.Duration) error {
	if err := checkCertArgs(serverDNS, clientName, validity); err != nil {
		return err
	}
	if err := certsDir(dir); err != nil {
		return err
	}
	for _, f := range CertFiles {
		if _, err := os.Lstat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--out %s: %s exists already (a file or a symlink): choose an empty --out folder", dir, f)
		}
	}
	from := time.Now().Add(-5 * time.Minute) // clock skew between nodes
	to := from.Add(validity)
	serverCA, err := NewCA("velero-plugin-s3csi csi-relay server CA", from, to)
	if err != nil {
		return err
	}
	clientCA, err := NewCA("velero-plugin-s3csi csi-relay client CA", from, to)
	if err != nil {
		return err
	}
	srvCert, srvKey, err := serverCA.Issue(ServerAuth, serverDNS[0], serverDNS[1:], from, to)
	if err != nil {
		return err
	}
	cliCert, cliKey, err := clientCA.Issue(ClientAuth, clientName, nil, from, to)
	if err != nil {
		return err
	}
	var written []string
	for i, data := range [][]byte{serverCA.PEM, clientCA.PEM, srvCert, srvKey, cliCert, cliKey} {
		p := filepath.Join(dir, CertFiles[i])
		if err := createFile(p, data); err != nil {
			for _, w := range written {
				_ = os.Remove(w)
			}
			return err
		}
		written = append(written, p)
	}
	return nil
}

func checkCertArgs(serverDNS []string, clientName string, validity time.Duration) error {
	if len(serverDNS) == 0 {
		return errors.New("--server-dns is required: the DNS name the plugin dials (the relay Service's name)")
	}
	for _, d := range serverDNS {
		if strings.TrimSpace(d) == "" {
			return fmt.Errorf("--server-dns %q: a name is empty", strings.Join(serverDNS, ","))
		}
	}
	if strings.TrimSpace(clientName) == "" {
		return errors.New("--client-name is empty: the relay accepts only a client certificate that names it (velero)")
	}
	if validity <= 0 {
		return fmt.Errorf("--validity %s: want more than 0 (the certificates would be expired when made)", validity)
	}
	if validity > MaxValidity {
		return fmt.Errorf("--validity %s: want at most %s (5 years)", validity, MaxValidity)
	}
	return nil
}

// certsDir makes dir 0700, or checks that an existing one is a folder
// (not a symlink) that only its owner can write to.
func certsDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("--out %s: %w", dir, err)
		}
		return nil
	}
	switch {
	case err != nil:
		return fmt.Errorf("--out %s: %w", dir, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("--out %s is a symlink: give the folder itself", dir)
	case !st.IsDir():
		return fmt.Errorf("--out %s is not a folder", dir)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("--out %s is writable by group or others (mode %04o): others could swap the keys; use a folder only you can write to (chmod 700)", dir, st.Mode().Perm())
	}
	return nil
}

// createFile writes a new file, never through a symlink and never over
// an existing file: keys 0600, certificates 0644.
func createFile(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if filepath.Ext(path) == ".key" {
		mode = 0o600
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}
