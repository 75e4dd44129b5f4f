// Package tlserr tells a refused server certificate from other failures:
// a wrong CA is configuration, and no retry will fix it.
package tlserr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// IsCertificateError is true when the server's certificate was refused.
func IsCertificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid)
}
