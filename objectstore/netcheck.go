package objectstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/awsconn"
	"example.io/velero-plugin-s3csi/internal/finding"
)

// The checks of the way to the S3 server, below S3 itself: DNS, TCP and
// TLS (the clock's is in clock.go). doctor runs them as lines of their
// own; a request of the store that fails on the server's certificate gets
// the TLS check's words (explainTLS), so Velero's BSL status says what
// doctor would.

// endpointURL is where the store's requests go: s3Url, else AWS's S3 in
// region (or the global endpoint before the region is known: "").
func endpointURL(c *config.ObjectStore, region string) *url.URL {
	if c.S3URL != "" {
		u, err := url.Parse(c.S3URL)
		if err == nil {
			return u
		}
	}
	host := "s3.amazonaws.com"
	if region != "" {
		host = "s3." + region + ".amazonaws.com"
	}
	return &url.URL{Scheme: "https", Host: host}
}

// hostPort is u's host and port, the scheme's port when u names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// checkReachable resolves the endpoint's host and opens a TCP connection,
// within requestTimeout: what every request does first.
func checkReachable(ctx context.Context, c *config.ObjectStore, key string, u *url.URL) (string, error) {
	check := fmt.Sprintf("%s %s reachable", key, u.Redacted())
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, u.Hostname())
	if err != nil {
		return "", finding.Fail(check, fmt.Errorf("DNS: %w", err),
			"%s's host %q does not resolve from here: check the name, and that this machine uses the cluster's DNS if it is a cluster-internal name", key, u.Hostname())
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort(u))
	if err != nil {
		return "", finding.Fail(check, fmt.Errorf("TCP %s: %w", hostPort(u), err),
			"nothing accepts connections at %s from here: check %s's port, that the server runs, and any firewall or NetworkPolicy between", hostPort(u), key)
	}
	remote := conn.RemoteAddr().String()
	conn.Close()
	return fmt.Sprintf("%s resolves to %s; TCP connect to %s", u.Hostname(), strings.Join(addrs, ", "), remote), nil
}

// checkTLS makes a TLS handshake with the endpoint and verifies its
// certificate chain itself, against the system's CAs and caCert, so that
// a refusal names its reason: an unknown CA, an expired certificate, a
// name the certificate is not for. No TLS over http: "". The handshake
// is what every request over https starts with: within requestTimeout.
func checkTLS(ctx context.Context, c *config.ObjectStore, key string, u *url.URL) (string, error) {
	if u.Scheme != "https" {
		return "", nil
	}
	check := fmt.Sprintf("TLS certificate of %s", u.Host)
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	certs, version, err := peerCertificates(ctx, u)
	if err != nil {
		return "", finding.Fail(check, fmt.Errorf("TLS handshake: %w", err), "the server at %s does not speak TLS there: use an http:// %s, or the server's TLS port", u.Host, key)
	}
	leaf := certs[0]
	about := fmt.Sprintf("%s, certificate for %s issued by %q, valid until %s", version, certNames(leaf), leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	if c.InsecureSkipTLSVerify {
		return about + "; not verified: insecureSkipTLSVerify is true", nil
	}
	if err := verifyChain(c, u.Hostname(), certs); err != nil {
		return "", err
	}
	return about, nil
}

// verifyChain is the TLS check's verdict, a *finding.Failure naming the
// reason and the fix, nil when the chain verifies.
func verifyChain(c *config.ObjectStore, host string, certs []*x509.Certificate) error {
	check := fmt.Sprintf("TLS certificate of %s", host)
	conf, err := awsconn.TLSConfig(c.CACert, false)
	if err != nil {
		return finding.Fail(check, err, "caCert must hold the PEM certificate of the CA that signed the server's certificate")
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	roots := conf.RootCAs
	if roots == nil {
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		now := time.Now()
		if now.After(leaf.NotAfter) {
			return finding.Fail(check, fmt.Errorf("the server's certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339)),
				"renew the S3 server's certificate (insecureSkipTLSVerify would only hide this)")
		}
		return finding.Fail(check, fmt.Errorf("the server's certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339)),
			"check this machine's clock, or the certificate's dates")
	case errors.As(err, &unknown):
		trust := "the system's CAs"
		if len(c.CACert) > 0 {
			trust = "caCert and the system's CAs"
		}
		return finding.Fail(check, fmt.Errorf("signed by %q, which %s do not include", leaf.Issuer.CommonName, trust),
			"set the BSL's spec.objectStorage.caCert (base64 of the PEM) or caCert to the CA that signed the server's certificate")
	case errors.As(err, &name):
		return finding.Fail(check, fmt.Errorf("the certificate is for %s, not %s", certNames(leaf), host),
			"name the server in the s3Url by one of the certificate's names, or reissue the certificate with %s", host)
	}
	return finding.Fail(check, err, "")
}

// peerCertificates makes a handshake that accepts any certificate, to
// read the chain that verifyChain then judges, within ctx.
func peerCertificates(ctx context.Context, u *url.URL) ([]*x509.Certificate, string, error) {
	d := tls.Dialer{Config: &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // verified by verifyChain
	conn, err := d.DialContext(ctx, "tcp", hostPort(u))
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return nil, "", errors.New("the server sent no certificate")
	}
	return st.PeerCertificates, tls.VersionName(st.Version), nil
}

func certNames(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return c.Subject.CommonName
	}
	return strings.Join(names, ", ")
}

// explainTLS turns a request's refused certificate into the TLS check's
// words: it fetches the chain again from the endpoint of c in region and
// says why it is refused.
func explainTLS(ctx context.Context, c *config.ObjectStore, region string, err error) error {
	if !errors.Is(err, ErrTLS) {
		return err
	}
	u := endpointURL(c, region)
	certs, _, herr := peerCertificates(ctx, u)
	if herr != nil {
		return err
	}
	if why := verifyChain(c, u.Hostname(), certs); why != nil {
		return fmt.Errorf("%w: %w", err, why)
	}
	return err
}
