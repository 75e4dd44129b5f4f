package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// RestrictedCredentialsFile asks the server's STS (MinIO's AssumeRole)
// for temporary credentials limited by policy, an IAM policy document, and
// writes them as an AWS shared-credentials file with one profile,
// "default". A test uses it to meet a real AccessDenied.
func (s *S3Server) RestrictedCredentialsFile(t T, policy string) string {
	t.Helper()
	opts := credentials.STSAssumeRoleOptions{AccessKey: s.AccessKey, SecretKey: s.SecretKey, Policy: policy,
		Location: "us-east-1", DurationSeconds: 3600}
	creds, err := credentials.NewSTSAssumeRole(s.Endpoint, opts)
	if err != nil {
		t.Fatalf("assume role on %s: %v", s.Name, err)
	}
	var v credentials.Value
	if len(s.CAPEM) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.CAPEM)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		v, err = creds.GetWithContext(&credentials.CredContext{Client: &http.Client{Transport: tr}})
	} else {
		v, err = creds.Get()
	}
	if err != nil {
		t.Fatalf("assume role on %s with a session policy: %v", s.Name, err)
	}
	p := filepath.Join(t.TempDir(), "credentials")
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n",
		v.AccessKeyID, v.SecretAccessKey, v.SessionToken)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
