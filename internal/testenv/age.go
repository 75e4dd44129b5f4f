package testenv

import (
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
)

// AgeKey is an age X25519 key pair made for one test, its identity in a
// file as age-keygen writes it (for the plugin's encryptionIdentityFile
// and for the age CLI's -i).
type AgeKey struct {
	Identity  string // AGE-SECRET-KEY-1…
	Recipient string // age1…
	File      string // the identity file, mode 0600
	KeyFile   []byte // its content
}

// NewAgeKey makes a key pair and writes its identity file into a temp dir.
func NewAgeKey(t T) AgeKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatalf("age key: %v", err)
	}
	k := AgeKey{Identity: id.String(), Recipient: id.Recipient().String()}
	k.KeyFile = fmt.Appendf(nil, "# created: by a test\n# public key: %s\n%s\n", k.Recipient, k.Identity)
	k.File = filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(k.File, k.KeyFile, 0o600); err != nil {
		t.Fatalf("age key: %v", err)
	}
	return k
}
