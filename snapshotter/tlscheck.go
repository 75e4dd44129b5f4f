package snapshotter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"example.io/velero-plugin-s3csi/internal/finding"
)

// describeCert names the client certificate: subject, issuer, expiry.
func describeCert(tc *clientTLS) string {
	leaf := tc.leaf()
	if leaf == nil {
		return "(unreadable)"
	}
	return fmt.Sprintf("CN=%s, issued by %q, valid until %s", leaf.Subject.CommonName, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
}

func (tc *clientTLS) leaf() *x509.Certificate {
	if len(tc.cfg.Certificates) == 0 || len(tc.cfg.Certificates[0].Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(tc.cfg.Certificates[0].Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// handshake checks the TLS of a relay both ways with the tls.Config Init
// built: the relay's certificate against the VSL's CA, and the relay's
// verdict on the client certificate. In TLS 1.3 that verdict comes after
// the client's handshake is done, so the check reads until the relay's
// first bytes (its HTTP/2 settings) or its alert. It writes nothing
// first: a relay that closes with a client's bytes unread resets the
// connection, and the reset can overtake the alert that says why.
func (k *checks) handshake(ctx context.Context, r finding.Reporter) bool {
	c := k.c
	return check(r, "TLS with the relay at "+hostPort(c.Endpoint), func() (string, error) {
		hctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
		defer cancel()
		cfg := k.tc.cfg.Clone()
		cfg.NextProtos = []string{"h2"}
		conn, err := (&tls.Dialer{Config: cfg}).DialContext(hctx, "tcp", hostPort(c.Endpoint))
		if err != nil {
			return "", k.tlsFailure(err)
		}
		defer conn.Close()
		version := tls.VersionName(conn.(*tls.Conn).ConnectionState().Version)
		if deadline, ok := hctx.Deadline(); ok {
			_ = conn.SetReadDeadline(deadline)
		}
		_, err = conn.Read(make([]byte, 1))
		var timeout net.Error
		if err != nil && !(errors.As(err, &timeout) && timeout.Timeout()) {
			if f := k.tlsFailure(err); !errors.Is(f, errNotTLS) {
				return "", f
			}
			return "", finding.Fail("", fmt.Errorf("the relay closed the connection after the TLS handshake without saying why: %w", err),
				"check the csi-relay's log: it names each client it refuses and why")
		}
		return fmt.Sprintf("%s; the relay accepts the client certificate and its certificate is valid for %s", version, cfg.ServerName), nil
	})
}

// errNotTLS marks an error that says nothing about TLS.
var errNotTLS = errors.New("not a TLS error")

// tlsFailure names what went wrong in the TLS of a relay connection.
func (k *checks) tlsFailure(err error) error {
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	caFix := "set tlsCAFile (or ca.crt of the tlsCASecretName Secret, else of the tlsSecretName Secret) to the CA that signed the relay's certificate (--tls-cert-file)"
	switch {
	case errors.As(err, &unknown) || strings.Contains(msg, "certificate signed by unknown authority"):
		issuer := ""
		if unknown.Cert != nil {
			issuer = fmt.Sprintf(" (issued by %q)", unknown.Cert.Issuer.CommonName)
		}
		return finding.Fail("", fmt.Errorf("the relay's certificate%s is not signed by the VSL's CA: x509: certificate signed by unknown authority", issuer), caFix)
	case errors.As(err, &host) || strings.Contains(msg, "certificate is valid for"):
		return finding.Fail("", fmt.Errorf("the relay's certificate does not name %s: %s", k.tc.cfg.ServerName, strings.TrimPrefix(host.Error(), "x509: ")),
			"set tlsServerName to a name in the relay's certificate")
	case errors.As(err, &invalid):
		return finding.Fail("", fmt.Errorf("the relay's certificate is not valid: %w", invalid), "renew the relay's certificate (--tls-cert-file)")
	case strings.Contains(msg, "remote error: tls: "):
		return k.refused(msg[strings.Index(msg, "remote error: tls: ")+len("remote error: tls: "):])
	}
	return errNotTLS
}

// refused is the relay's refusal of the client certificate, named with
// what the plugin can see of it: its expiry, its names, and whether the
// relay's own CA (the VSL's, which the relay never trusts for clients:
// deploy/csi-relay has two CAs) signed it.
func (k *checks) refused(alert string) error {
	alert = strings.TrimRight(strings.SplitN(alert, "\"", 2)[0], " ")
	why := "the relay's alert is: " + alert
	fix := "issue the client certificate from the client CA in the relay's --client-ca-file, with the relay's --client-name as a DNS SAN " +
		"(deploy/csi-relay/cert-manager.yaml does), and point tlsCertFile/tlsKeyFile or tlsSecretName at it"
	if leaf := k.tc.leaf(); leaf != nil {
		_, verr := leaf.Verify(x509.VerifyOptions{Roots: k.tc.cfg.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		var invalid x509.CertificateInvalidError
		switch {
		case time.Now().After(leaf.NotAfter):
			why = fmt.Sprintf("it expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
			fix = "renew the client certificate (cert-manager renews it by itself when it issues it: deploy/csi-relay/cert-manager.yaml)"
		case errors.As(verr, &invalid) && invalid.Reason == x509.Expired:
			why = "it is not yet valid: " + invalid.Error()
		case verr == nil:
			why = fmt.Sprintf("it is signed by the relay's own CA (the VSL's CA), which the relay does not trust for clients (%s)", why)
		default:
			why = fmt.Sprintf("the relay does not trust its issuer %q (--client-ca-file), or it lacks the relay's --client-name among its SANs %s (%s)",
				leaf.Issuer.CommonName, sans(leaf), why)
		}
	}
	return finding.Fail("", fmt.Errorf("the relay refused this client certificate: %s", why), fix)
}

// sans lists a certificate's first DNS and URI SANs.
func sans(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	return "[" + strings.Join(names, ", ") + "]"
}
