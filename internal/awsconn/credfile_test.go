package awsconn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckCredentialsFile(t *testing.T) {
	cases := []struct {
		name, body, profile string
		seen, err           string
	}{
		{"good", "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n", "default",
			"profile [default]: static keys (aws_access_key_id, aws_secret_access_key)", ""},
		{"velero#6439 typo", "[default]\naws_access_key = AKIA\naws_secret_access_key = s\n", "default",
			"", `profile [default] has unknown key "aws_access_key" (line 2; did you mean "aws_access_key_id"?), which no AWS SDK reads`},
		{"secret typo", "[default]\naws_access_key_id=AKIA\naws_secret_key=s\n", "default",
			"", `unknown key "aws_secret_key" (line 3; did you mean "aws_secret_access_key"?)`},
		{"unknown aws key", "[default]\naws_access_key_id=a\naws_secret_access_key=s\naws_frobnicate=1\n", "default",
			"", `unknown key "aws_frobnicate" (line 4)`},
		{"other unknown key is named only", "[default]\naws_access_key_id=a\naws_secret_access_key=s\nmy_tool_setting=1\n", "default",
			"ignored: my_tool_setting", ""},
		{"missing profile", "[prod]\naws_access_key_id=a\naws_secret_access_key=s\n", "default",
			"", "has no profile [default] (it has [prod])"},
		{"config file form", "[profile prod]\nrole_arn=arn:aws:iam::1:role/r\nsource_profile=default\n", "prod",
			"profile [prod]: credentials from role_arn", ""},
		{"half a pair", "[default]\naws_access_key_id=a\n", "default", "", "has aws_access_key_id but no aws_secret_access_key"},
		{"no credentials", "[default]\nregion=us-east-1\n", "default", "", "names no credentials"},
		{"not ini", "[default]\naws_access_key_id: a\n", "default", "", "line 2 is not `key = value`"},
		{"key before section", "aws_access_key_id=a\n", "default", "", `line 1 sets "aws_access_key_id" before any [profile] line`},
		{"nested value", "[default]\naws_access_key_id=a\naws_secret_access_key=s\ns3 =\n  max_concurrent_requests = 10\n", "default",
			"static keys (aws_access_key_id, aws_secret_access_key, s3)", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "creds")
			require.NoError(t, os.WriteFile(p, []byte(c.body), 0o600))
			seen, err := CheckCredentialsFile(p, c.profile)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				assert.NotContains(t, err.Error(), "= s", "no value is quoted")
				return
			}
			require.NoError(t, err)
			assert.Contains(t, seen, c.seen)
		})
	}
}
