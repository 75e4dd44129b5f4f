package testenv

import (
	"net/http"

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
	cc := &credentials.CredContext{} // no Client: minio-go's default
	if len(s.CAPEM) > 0 {
		cc.Client = &http.Client{Transport: s.transport()}
	}
	v, err := creds.GetWithContext(cc)
	if err != nil {
		t.Fatalf("assume role on %s with a session policy: %v", s.Name, err)
	}
	return writeCredentials(t, "default", v.AccessKeyID, v.SecretAccessKey, v.SessionToken)
}
