// Package awsconn is what every S3 client of this binary (the object
// store, undelete) sets up the same way: the TLS of a CA bundle or of
// skipping verification, no retry of a refused certificate (a wrong CA is
// configuration), and a credentials file whose keys win over the
// environment.
package awsconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// IsCertificateError is true when the server's certificate was refused.
func IsCertificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid)
}

// NoCertificateRetry, first among a retryer's Retryables, keeps the SDK
// from retrying a refused certificate.
var NoCertificateRetry = retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
	if IsCertificateError(err) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
})

// ErrNoCertificate says a CA bundle held no PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate in it")

// TLSConfig trusts the system's CAs and those of caPEM, or, with
// insecure, any certificate.
func TLSConfig(caPEM []byte, insecure bool) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // the user's explicit choice
	if len(caPEM) == 0 {
		return conf, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, ErrNoCertificate
	}
	conf.RootCAs = pool
	return conf, nil
}

// FileCredentials makes static keys in profile of a shared-credentials
// file cfg's credentials, over AWS_* variables that the SDK's chain
// would prefer: Velero hands a plugin the file of its BSL, and an
// operator names one for undelete. A profile without keys (a role, SSO)
// leaves cfg's chain as it is.
func FileCredentials(ctx context.Context, cfg *aws.Config, file, profile string) error {
	shared, err := awsconfig.LoadSharedConfigProfile(ctx, profile, func(o *awsconfig.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{file}
		o.ConfigFiles = []string{file}
	})
	if err != nil {
		return err
	}
	if shared.Credentials.HasKeys() {
		cfg.Credentials = aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: shared.Credentials})
	}
	return nil
}
