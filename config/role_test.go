package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testRole = "arn:aws:iam::123456789012:role/velero-backup"

func TestRoleSettings(t *testing.T) {
	good := []struct {
		name    string
		kv      []string
		session string
		sts     string
	}{
		{"AWS role, default session, regional STS", []string{"roleArn", testRole}, DefaultRoleSessionName, ""},
		{"role with a path, GovCloud partition", []string{"roleArn", "arn:aws-us-gov:iam::123456789012:role/ops/velero"}, DefaultRoleSessionName, ""},
		{"MinIO's role ARN form; STS on s3Url", []string{"roleArn", "arn:minio:iam:::role/velero", "s3Url", "http://minio:9000"}, DefaultRoleSessionName, "http://minio:9000"},
		{"s3Url on AWS: regional STS", []string{"roleArn", testRole, "s3Url", "https://s3.eu-west-1.amazonaws.com"}, DefaultRoleSessionName, ""},
		{"stsUrl wins over s3Url", []string{"roleArn", testRole, "s3Url", "http://minio:9000", "stsUrl", "https://sts.example/"}, DefaultRoleSessionName, "https://sts.example"},
		{"session name and external id", []string{"roleArn", testRole, "roleSessionName", "cluster-a@prod", "externalId", "d1b9-4c2e"}, "cluster-a@prod", ""},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseObjectStore(bsl(tc.kv...))
			require.NoError(t, err)
			assert.Equal(t, tc.session, c.RoleSessionName)
			assert.Equal(t, tc.sts, c.STSEndpoint())
		})
	}
	bad := []struct {
		name string
		kv   []string
		want []string // all in the message
	}{
		{"a user ARN", []string{"roleArn", "arn:aws:iam::123456789012:user/bob"}, []string{`"roleArn"`, `"arn:aws:iam::123456789012:user/bob"`, "is not the ARN of an IAM role"}},
		{"a role name", []string{"roleArn", "velero-backup"}, []string{`"roleArn"`, `"velero-backup"`}},
		{"a short account", []string{"roleArn", "arn:aws:iam::1234:role/x"}, []string{`"roleArn"`, `"arn:aws:iam::1234:role/x"`}},
		{"a session name with a space", []string{"roleArn", testRole, "roleSessionName", "my session"}, []string{`"roleSessionName"`, `"my session"`, "2 to 64"}},
		{"a one-letter session name", []string{"roleArn", testRole, "roleSessionName", "x"}, []string{`"roleSessionName"`, `"x"`}},
		{"a session name of 65", []string{"roleArn", testRole, "roleSessionName", strings.Repeat("s", 65)}, []string{`"roleSessionName"`}},
		{"an external id with a space", []string{"roleArn", testRole, "externalId", "a b"}, []string{`"externalId"`, `"a b"`}},
		{"roleSessionName without roleArn", []string{"roleSessionName", "velero"}, []string{"roleSessionName is set in BSL config but roleArn is not"}},
		{"externalId without roleArn", []string{"externalId", "abc123"}, []string{"externalId is set in BSL config but roleArn is not"}},
		{"stsUrl without roleArn", []string{"stsUrl", "https://sts.example"}, []string{"stsUrl is set in BSL config but roleArn is not"}},
		{"stsUrl not a URL", []string{"roleArn", testRole, "stsUrl", "sts.example"}, []string{`"stsUrl"`, `"sts.example"`}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseObjectStore(bsl(tc.kv...))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	t.Run("the role keys are BSL-only", func(t *testing.T) {
		for _, k := range []string{"roleArn", "roleSessionName", "externalId", "stsUrl", "storageClass"} {
			_, err := ParseObjectStore(bsl(), Layer{Name: "ConfigMap velero/s3compat-config", TunablesOnly: true, Values: map[string]string{k: "x"}})
			require.Error(t, err, k)
			assert.Contains(t, err.Error(), fmt.Sprintf("key %q is not allowed in ConfigMap", k))
		}
	})
	t.Run("Fields show the role and the start of the external id", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("roleArn", testRole, "externalId", "d1b9-4c2e-8f00"))
		require.NoError(t, err)
		f := c.Fields()
		assert.Equal(t, testRole+" (BSL config)", f["roleArn"])
		assert.Equal(t, DefaultRoleSessionName+" (default)", f["roleSessionName"])
		assert.Equal(t, "d1b9… (14 characters) (BSL config)", f["externalId"])
		assert.Equal(t, "AWS regional STS (default)", f["stsUrl"])
		c, err = ParseObjectStore(bsl())
		require.NoError(t, err)
		assert.NotContains(t, c.Fields(), "roleArn")
	})
}

func TestStorageClass(t *testing.T) {
	for _, v := range []string{"STANDARD", "reduced_redundancy", " STANDARD_IA ", "GLACIER_IR", "INTELLIGENT_TIERING", "EXPRESS_ONEZONE", ""} {
		c, err := ParseObjectStore(bsl("storageClass", v))
		require.NoError(t, err, v)
		assert.Equal(t, strings.ToUpper(strings.TrimSpace(v)), c.StorageClass)
	}
	for _, tc := range []struct{ value, why string }{
		{"GLACIER", "a Velero restore would fail"},
		{"deep_archive", "a Velero restore would fail"},
		{"COLD", "is not an S3 storage class: use one of STANDARD, REDUCED_REDUNDANCY, STANDARD_IA"},
	} {
		_, err := ParseObjectStore(bsl("storageClass", tc.value))
		require.Error(t, err, tc.value)
		assert.Contains(t, err.Error(), fmt.Sprintf(`invalid value for "storageClass" in BSL config: %q`, tc.value))
		assert.Contains(t, err.Error(), tc.why)
	}
	c, err := ParseObjectStore(bsl("storageClass", "STANDARD_IA"))
	require.NoError(t, err)
	assert.Equal(t, "STANDARD_IA for backup tarballs; metadata and logs: the default (BSL config)", c.Fields()["storageClass"])
	assert.IsType(t, logrus.Fields{}, c.Fields())
}
