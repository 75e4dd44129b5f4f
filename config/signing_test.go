package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A throwaway key pair made by minisign -G -W (0.11).
const (
	testSigningKey = "untrusted comment: minisign encrypted secret key\n" + minisignSecretLine + "\n"
	testPublicKey  = "RWR1gHMCckpDq2JJcfNO4WDW2D5Vm9vV8TlhakMME+sABzad2b+tyhc2"
	otherPublicKey = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
)

func TestSigningSettings(t *testing.T) {
	t.Run("none: no signatures, nothing checked", func(t *testing.T) {
		c, err := ParseObjectStore(bsl())
		require.NoError(t, err)
		assert.False(t, c.Signs())
		assert.False(t, c.Checks())
		assert.Contains(t, c.Fields()["signingKey"], "none")
		assert.NotContains(t, c.Fields(), "requireSignatures")
	})
	t.Run("key file, read at Init, shown by ID only", func(t *testing.T) {
		p := writeFile(t, "minisign.key", []byte(testSigningKey))
		c, err := ParseObjectStore(bsl("signingKeyFile", p, "requireSignatures", "true", "verifyPublicKeys", otherPublicKey+", "+testPublicKey))
		require.NoError(t, err)
		assert.True(t, c.Signs())
		assert.Nil(t, c.SigningKey, "read at Init")
		require.NoError(t, c.LoadSigningKeyFile())
		require.NotNil(t, c.SigningKey)
		assert.Equal(t, testPublicKey, c.SigningKey.Public().String())
		assert.Len(t, c.AcceptedKeys(), 2, "the signing key's public key is one of verifyPublicKeys")
		assert.True(t, c.RequireSignatures)
		f := c.Fields()
		assert.Equal(t, "<redacted: minisign secret key AB434A7202738075> (signingKeyFile "+p+" in BSL config): every object gets <key>.minisig", f["signingKey"])
		assert.Contains(t, f["requireSignatures"], "true: an unsigned object")
		assert.Contains(t, f["verifyPublicKeys"], "AB434A7202738075")
		assertNoSecret(t, fmt.Sprintf("%v %+v %#v", f, c, c))
	})
	t.Run("key from a Secret", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("signingKeySecret", "minisign/key"))
		require.NoError(t, err)
		require.NoError(t, c.SetSigningKeyFromSecret("velero", map[string][]byte{"key": []byte(testSigningKey)}, nil))
		assert.Equal(t, testPublicKey, c.AcceptedKeys()[0].String())
		err = c.SetSigningKeyFromSecret("velero", nil, errors.New(`secrets "minisign" is forbidden`))
		assert.ErrorContains(t, err, `invalid value for "signingKeySecret" in BSL config: "minisign/key" names Secret velero/minisign, which cannot be read`)
		err = c.SetSigningKeyFromSecret("velero", map[string][]byte{"key": []byte(testPublicKey)}, nil)
		assert.ErrorContains(t, err, `names key "key" of Secret velero/minisign, which is a minisign PUBLIC key`)
	})
	t.Run("verify keys only", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("verifyPublicKeys", testPublicKey, "requireSignatures", "true"))
		require.NoError(t, err)
		assert.False(t, c.Signs())
		assert.True(t, c.Checks())
		assert.Len(t, c.AcceptedKeys(), 1)
	})
	t.Run("encrypted key refused with the command", func(t *testing.T) {
		raw := strings.Replace(minisignSecretLine, "RWQAAEIy", "RWRTY0Iy", 1) // KDF "Sc": minisign -G without -W
		p := writeFile(t, "minisign.key", []byte("untrusted comment: minisign encrypted secret key\n"+raw+"\n"))
		c, err := ParseObjectStore(bsl("signingKeyFile", p))
		require.NoError(t, err)
		err = c.LoadSigningKeyFile()
		assert.ErrorContains(t, err, `invalid value for "signingKeyFile" in BSL config: "`+p+`" the minisign secret key is encrypted with a password: make an unencrypted one with `+"`minisign -G -W")
	})
}

func TestSigningRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		layer Layer
		want  string
	}{
		{"both sources", bsl("signingKeySecret", "m/key", "signingKeyFile", "/k"), "signingKeySecret and signingKeyFile both name the minisign secret key: set one"},
		{"relative file", bsl("signingKeyFile", "minisign.key"), `invalid value for "signingKeyFile" in BSL config: "minisign.key" is not an absolute path`},
		{"bad secret ref", bsl("signingKeySecret", "minisign"), `"minisign" is not secretName/key`},
		{"require without keys", bsl("requireSignatures", "true"), "requireSignatures is true, but no key could check a signature"},
		{"require not a bool", bsl("requireSignatures", "always", "verifyPublicKeys", testPublicKey), `"always" is not a boolean`},
		{"bad public key", bsl("verifyPublicKeys", testPublicKey+",RWQnope"), `"` + testPublicKey + `,RWQnope" key 2 of 2 is not a minisign public key`},
		{"secret key as public key", bsl("verifyPublicKeys", minisignSecretLine), `"verifyPublicKeys" in BSL config: "<redacted: 212 characters holding what looks like a minisign secret key`},
		{"secret key as secret ref", bsl("signingKeySecret", testSigningKey), `"signingKeySecret" in BSL config: "<redacted: 262 characters holding what looks like a minisign secret key`},
		{"age identity as secret ref", bsl("encryptionIdentitySecret", "AGE-SECRET-KEY-1VXP5YT5XM33WER046XXC44W4NSFNHZPFDN5Y4PYUARK8EAGQKS2SDH2XS4"),
			`"encryptionIdentitySecret" in BSL config: "<redacted: 74 characters holding what looks like an age identity (AGE-SECRET-KEY-…)`},
		{"age identity in lower case", bsl("prefix", "x", "region", "r", "multipartPartSize", "age-secret-key-1vxp5yt5xm33wer046xxc44w4nsfnhzpfdn5y4pyuark8eagqks2sdh2xs4"),
			`"multipartPartSize" in BSL config: "<redacted: 74 characters holding what looks like an age identity`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseObjectStore(tc.layer)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assertNoSecret(t, err.Error())
		})
	}
}

func assertNoSecret(t *testing.T, text string) {
	t.Helper()
	assert.NotContains(t, strings.ToUpper(text), "AGE-SECRET-KEY-1")
	assert.NotContains(t, text, minisignSecretLine[60:100])
}

func TestSigningKeyNeverPrints(t *testing.T) {
	p := writeFile(t, "minisign.key", []byte(testSigningKey))
	c, err := ParseObjectStore(bsl("signingKeyFile", p))
	require.NoError(t, err)
	require.NoError(t, c.LoadSigningKeyFile())
	entry := logrus.NewEntry(logrus.New()).WithFields(c.Fields()).WithField("cfg", c)
	for _, f := range []logrus.Formatter{&logrus.TextFormatter{DisableColors: true}, &logrus.JSONFormatter{}} {
		text, err := f.Format(entry)
		require.NoError(t, err)
		assertNoSecret(t, string(text))
		assert.Contains(t, string(text), "redacted: minisign secret key")
	}
}
