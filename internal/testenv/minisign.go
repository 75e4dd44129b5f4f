package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MinisignKey is a minisign key pair made for one test by Debian's
// minisign CLI (minisign -G -W: no password), as a user makes one.
type MinisignKey struct {
	File      string // the secret key file, for signingKeyFile
	SecretKey []byte // its content, for a Secret
	PublicKey string // the base64 line (RWQ…), for verifyPublicKeys and minisign -P
	bin       string
}

// NewMinisignKey makes a key pair with the minisign CLI in a temp dir.
func NewMinisignKey(t T) MinisignKey {
	t.Helper()
	k := MinisignKey{bin: Tool(t, "minisign")}
	dir := t.TempDir()
	k.File = filepath.Join(dir, "minisign.key")
	pub := filepath.Join(dir, "minisign.pub")
	if out, err := exec.Command(k.bin, "-G", "-W", "-s", k.File, "-p", pub).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G -W: %v: %s", err, out)
	}
	var err error
	if k.SecretKey, err = os.ReadFile(k.File); err != nil {
		t.Fatalf("minisign key: %v", err)
	}
	p, err := os.ReadFile(pub)
	if err != nil {
		t.Fatalf("minisign key: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(p)), "\n")
	k.PublicKey = strings.TrimSpace(lines[len(lines)-1])
	return k
}

// Verify runs `minisign -V` on data and its .minisig with the public key
// and returns what it prints (the trusted comment among it) or its error.
func (k MinisignKey) Verify(t T, data, sig []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "object")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := os.WriteFile(file+".minisig", sig, 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	out, err := exec.Command(k.bin, "-V", "-m", file, "-x", file+".minisig", "-P", k.PublicKey).CombinedOutput()
	return string(out), err
}
