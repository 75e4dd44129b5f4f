package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id
}

// identityFile is what age-keygen writes.
func identityFile(ids ...*age.X25519Identity) []byte {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "# created: 2026-12-02T10:00:00Z\n# public key: %s\n%s\n", id.Recipient(), id)
	}
	return []byte(b.String())
}

func TestEncryptionSettings(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	t.Run("two recipients, default scope", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("encryptionRecipients", " "+a.Recipient().String()+" ,"+b.Recipient().String()))
		require.NoError(t, err)
		require.Len(t, c.EncryptionRecipients, 2)
		assert.Equal(t, b.Recipient().String(), c.EncryptionRecipients[1].String())
		assert.True(t, c.Encrypted())
		assert.Equal(t, ScopeBackupContents, c.EncryptionScope)
		assert.Len(t, c.Recipients(), 2)
		f := c.Fields()
		assert.Contains(t, f["encryptionRecipients"], a.Recipient().String())
		assert.Contains(t, f["encryptionScope"], "backupContents: backups/<name>/<name>.tar.gz")
		assert.Contains(t, f["encryptionIdentity"], "none: restores of encrypted backups need")
	})
	t.Run("allGzip", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("encryptionRecipients", a.Recipient().String(), "encryptionScope", "allgzip"))
		require.NoError(t, err)
		assert.Equal(t, ScopeAllGzip, c.EncryptionScope)
	})
	t.Run("no recipients: nothing encrypted", func(t *testing.T) {
		c, err := ParseObjectStore(bsl())
		require.NoError(t, err)
		assert.False(t, c.Encrypted())
		assert.Contains(t, c.Fields()["encryptionRecipients"], "none")
		assert.NotContains(t, c.Fields(), "encryptionIdentity")
	})
	t.Run("identity file, read at Init, shown redacted with what it opens", func(t *testing.T) {
		p := writeFile(t, "key.txt", identityFile(b))
		c, err := ParseObjectStore(bsl("encryptionRecipients", a.Recipient().String()+","+b.Recipient().String(), "encryptionIdentityFile", p))
		require.NoError(t, err)
		assert.Empty(t, c.EncryptionIdentities, "parsing reads no file")
		require.NoError(t, c.LoadIdentityFile())
		require.Len(t, c.EncryptionIdentities, 1)
		line := fmt.Sprint(c.Fields()["encryptionIdentity"])
		assert.Contains(t, line, "<redacted: 1 age identities> (encryptionIdentityFile "+p+" in BSL config; opens recipient 2)")
		assert.NotContains(t, fmt.Sprintf("%v %+v %#v %s", c, c, c, line), "AGE-SECRET-KEY")
	})
	t.Run("identity without recipients: reads old backups", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("encryptionIdentitySecret", "age/key.txt"))
		require.NoError(t, err)
		require.NoError(t, c.SetIdentitiesFromSecret("velero", map[string][]byte{"key.txt": identityFile(a, b)}, nil))
		assert.Len(t, c.EncryptionIdentities, 2)
		assert.Len(t, c.EncryptionIdentities.List(), 2)
		assert.Contains(t, c.Fields()["encryptionIdentity"], "encryptionIdentitySecret age/key.txt in BSL config; reads encrypted objects; new ones are written unencrypted")
	})
	t.Run("an escrow identity opens none of the recipients", func(t *testing.T) {
		c, err := ParseObjectStore(bsl("encryptionRecipients", a.Recipient().String(), "encryptionIdentitySecret", "age/key"))
		require.NoError(t, err)
		require.NoError(t, c.SetIdentitiesFromSecret("velero", map[string][]byte{"key": identityFile(b)}, nil))
		assert.Contains(t, c.Fields()["encryptionIdentity"], "opens none of encryptionRecipients")
	})
	t.Run("ConfigMap may not set them", func(t *testing.T) {
		_, err := ParseObjectStore(bsl(), Layer{Name: "ConfigMap velero/s3compat", TunablesOnly: true, Values: map[string]string{"encryptionRecipients": a.Recipient().String()}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "encryptionRecipients" is not allowed in ConfigMap velero/s3compat`)
	})
}

func TestEncryptionRejects(t *testing.T) {
	a := newIdentity(t)
	pub := a.Recipient().String()
	tests := []struct {
		name   string
		layer  Layer
		errHas []string
	}{
		{"not a key", bsl("encryptionRecipients", pub+",age1nope"),
			[]string{`invalid value for "encryptionRecipients" in BSL config: "` + pub[:8] + `…,age1nope" has as recipient 2 of 2 something that is not an age X25519 public key`}},
		{"a secret key as recipient", bsl("encryptionRecipients", a.String()),
			[]string{`"AGE-SECR…" has as recipient 1 of 1 an age identity (a secret key), not a public key`, "age-keygen -y"}},
		{"empty entry", bsl("encryptionRecipients", pub+",,"+pub), []string{"has an empty recipient 2 of 3"}},
		{"repeated", bsl("encryptionRecipients", pub+","+pub), []string{"repeats recipient 1 as recipient 2 of 2"}},
		{"ssh key", bsl("encryptionRecipients", "ssh-ed25519 AAAAC3Nza"), []string{"an SSH key; only age X25519 recipients"}},
		{"post-quantum", bsl("encryptionRecipients", "age1pq1abc"), []string{"post-quantum or tag age recipient"}},
		{"tag", bsl("encryptionRecipients", "age1tag1abc"), []string{"post-quantum or tag age recipient"}},
		{"plugin", bsl("encryptionRecipients", "age1yubikey1abc"), []string{"an age plugin's recipient (age1yubikey1…)"}},
		{"bad scope", bsl("encryptionRecipients", pub, "encryptionScope", "everything"), []string{`"encryptionScope"`, `"everything" is not backupContents`}},
		{"scope without recipients", bsl("encryptionScope", "allGzip"), []string{"encryptionScope says which objects are encrypted, but encryptionRecipients names no age public key"}},
		{"both identity sources", bsl("encryptionIdentitySecret", "age/key", "encryptionIdentityFile", "/keys/age.txt"), []string{"set one"}},
		{"identity secret malformed", bsl("encryptionIdentitySecret", "age"), []string{`"encryptionIdentitySecret"`, "not secretName/key"}},
		{"relative identity file", bsl("encryptionIdentityFile", "key.txt"), []string{`"encryptionIdentityFile" in BSL config: "key.txt" is not an absolute path`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseObjectStore(tt.layer)
			require.Error(t, err)
			for _, want := range tt.errHas {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), a.String()[16:], "no secret key material")
			assert.NotContains(t, err.Error(), pub, "a recipient is named by position, not quoted whole")
		})
	}
}

func TestIdentityRejects(t *testing.T) {
	a := newIdentity(t)
	secret := a.String()
	flipped := []byte(secret)
	flipped[30] ^= 'A' ^ 'C'
	for name, c := range map[string]struct {
		data   []byte
		errHas string
	}{
		"public key":         {[]byte("# a note\n" + a.Recipient().String() + "\n"), "holds at line 2 a public key (age1…)"},
		"malformed identity": {append([]byte("\n\n"), flipped...), "holds at line 3 a malformed age identity"},
		"plugin identity":    {[]byte("AGE-PLUGIN-YUBIKEY-1ABC\n"), "holds at line 1 an age plugin identity"},
		"not an identity":    {[]byte("-----BEGIN PRIVATE KEY-----\n"), "holds at line 1 something that is not an age identity"},
		"only comments":      {[]byte("# public key: age1...\n\n"), "holds no age identity"},
		"too large":          {make([]byte, maxIdentityFile+1), "holds more than 64KiB"},
	} {
		t.Run(name, func(t *testing.T) {
			o, err := ParseObjectStore(bsl("encryptionIdentitySecret", "age/key.txt"))
			require.NoError(t, err)
			err = o.SetIdentitiesFromSecret("velero", map[string][]byte{"key.txt": c.data}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `invalid value for "encryptionIdentitySecret" in BSL config: "age/key.txt" names key "key.txt" of Secret velero/age, which `+c.errHas)
			assert.NotContains(t, err.Error(), secret[16:])
			assert.NotContains(t, err.Error(), string(flipped[16:]))

			p := writeFile(t, "key.txt", c.data)
			o, err = ParseObjectStore(bsl("encryptionIdentityFile", p))
			require.NoError(t, err)
			err = o.LoadIdentityFile()
			require.Error(t, err)
			assert.Contains(t, err.Error(), `invalid value for "encryptionIdentityFile" in BSL config: "`+p+`" `+c.errHas)
		})
	}
	t.Run("secret unreadable or without the key", func(t *testing.T) {
		o, err := ParseObjectStore(bsl("encryptionIdentitySecret", "age/key.txt"))
		require.NoError(t, err)
		err = o.SetIdentitiesFromSecret("velero", nil, errors.New(`secrets "age" is forbidden`))
		assert.ErrorContains(t, err, `"age/key.txt" names Secret velero/age, which cannot be read: secrets "age" is forbidden`)
		err = o.SetIdentitiesFromSecret("velero", map[string][]byte{"other": identityFile(a)}, nil)
		assert.ErrorContains(t, err, `names key "key.txt" that Secret velero/age does not have`)
	})
	t.Run("file missing or not regular", func(t *testing.T) {
		for path, why := range map[string]string{"/nonexistent/key.txt": "cannot be read", "/dev/zero": "is not a regular file", os.TempDir(): "is not a regular file"} {
			o, err := ParseObjectStore(bsl("encryptionIdentityFile", path))
			require.NoError(t, err)
			assert.ErrorContains(t, o.LoadIdentityFile(), why, path)
		}
	})
}

func TestIdentitiesNeverPrint(t *testing.T) {
	a := newIdentity(t)
	ids := Identities{a}
	c := ObjectStore{EncryptionIdentities: ids}
	entry := logrus.NewEntry(logrus.New()).WithField("ids", ids)
	text, err := (&logrus.TextFormatter{DisableColors: true}).Format(entry)
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(ids), fmt.Sprintf("%v %s %q %x %#v %+v", ids, ids, ids, ids, ids, ids), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(text)} {
		assert.NotContains(t, out, "AGE-SECRET-KEY")
		assert.Contains(t, out, "<redacted: 1 age identities>")
	}
}

// An X25519 recipient whose data starts with pq (age1pq…, one key in
// 1,024) is X25519 all the same: a test key drawn at random once was one,
// and was refused as post-quantum.
func TestRecipientStartingWithPQ(t *testing.T) {
	var r string
	for i := 0; i < 1<<16 && !strings.HasPrefix(r, "age1pq"); i++ {
		id, err := age.GenerateX25519Identity()
		require.NoError(t, err)
		r = id.Recipient().String()
	}
	require.True(t, strings.HasPrefix(r, "age1pq"), "no age1pq… key in 65,536 draws")
	o, err := ParseObjectStore(bsl("encryptionRecipients", r))
	require.NoError(t, err)
	assert.Len(t, o.EncryptionRecipients, 1)
}
