package objectstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
)

// EachLockServer runs test against every server whose buckets can have
// Object Lock: MinIO, and versitygw with its versioning folder. The
// external test package uses it too.
func EachLockServer(t *testing.T, test func(t *testing.T, srv *testenv.S3Server)) {
	servers := map[string]func(testenv.T) *testenv.S3Server{
		"minio":     func(t testenv.T) *testenv.S3Server { return testenv.StartMinIO(t, testenv.MinIOOptions{}) },
		"versitygw": testenv.StartVersityGWVersioned,
	}
	for _, name := range []string{"minio", "versitygw"} {
		t.Run(name, func(t *testing.T) { test(t, servers[name](t)) })
	}
}

// A real server's refusal to delete a version under retention is
// translated into ErrObjectLocked, with the reason in plain words.
func TestObjectLockRefusalFromServers(t *testing.T) {
	EachLockServer(t, func(t *testing.T, srv *testenv.S3Server) {
		bucket := srv.MakeLockedBucket(t, "", 0)
		s := New(testenv.NewLogCapture(logrus.DebugLevel).Logger, kube.New())
		require.NoError(t, s.Init(map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": srv.CredentialsFile(t),
			"objectLockMode": "COMPLIANCE", "objectLockRetention": "1h"}))
		require.NoError(t, s.PutObject(bucket, "k", bytes.NewReader([]byte("x"))))
		ctx := context.Background()
		head, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
		require.NoError(t, err)
		require.NotEmpty(t, aws.ToString(head.VersionId))
		_, err = s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: head.VersionId})
		require.Error(t, err)
		got := translate("delete", bucket, "k", err)
		assert.ErrorIs(t, got, ErrObjectLocked)
		assert.NotErrorIs(t, got, ErrAccessDenied)
		assert.Contains(t, got.Error(), "delete "+bucket+"/k: refused by Object Lock: the object version is under retention or legal hold until its date: ")
		assert.Equal(t, permanent, classify(got))
		t.Log(got)
	})
}
