package minisig

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// minisign's algorithm tags, as they appear in keys and signatures.
const (
	algEd      = "Ed" // Ed25519 key; a signature of the data itself (legacy)
	algHashed  = "ED" // a signature of the BLAKE2b-512 of the data (minisign -H)
	kdfNone    = "\x00\x00"
	kdfScrypt  = "Sc"
	chkBlake2b = "B2"
)

const (
	publicKeyLen = 2 + 8 + ed25519.PublicKeySize                            // 42
	secretKeyLen = 2 + 2 + 2 + 32 + 8 + 8 + 8 + ed25519.PrivateKeySize + 32 // 158
	maxKeyFile   = 4096
)

// ErrEncryptedKey says a secret key is protected by a password, which a
// plugin that runs unattended cannot type.
var ErrEncryptedKey = errors.New("the minisign secret key is encrypted with a password: " +
	"make an unencrypted one with `minisign -G -W -s KEY.key -p KEY.pub`")

// KeyID is the 8-byte key number minisign prints (as hex) and stores in
// keys and signatures.
type KeyID [8]byte

// String is the key number as minisign prints it: 16 upper-case hex digits.
func (id KeyID) String() string { return fmt.Sprintf("%016X", binary.LittleEndian.Uint64(id[:])) }

// PublicKey is a minisign Ed25519 public key.
type PublicKey struct {
	ID  KeyID
	key ed25519.PublicKey
}

// String is the key's base64 line, as in a .pub file and on minisign -P.
func (k PublicKey) String() string {
	b := make([]byte, 0, publicKeyLen)
	b = append(append(append(b, algEd...), k.ID[:]...), k.key...)
	return base64.StdEncoding.EncodeToString(b)
}

// ParsePublicKey reads one public key: its base64 line (RWQ…), or a
// whole .pub file (an "untrusted comment:" line, then that line). Errors
// never quote the input.
func ParsePublicKey(text string) (PublicKey, error) {
	line, err := keyLine([]byte(text), "public key")
	if err != nil {
		return PublicKey{}, err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(line)
	switch {
	case err != nil:
		return PublicKey{}, errors.New("is not a minisign public key (base64, RWQ… from minisign -G)")
	case len(b) == secretKeyLen:
		return PublicKey{}, errors.New("is a minisign SECRET key, not a public key: give the .pub file's key line")
	case len(b) != publicKeyLen:
		return PublicKey{}, fmt.Errorf("is not a minisign public key: %d bytes where a key has %d", len(b), publicKeyLen)
	case string(b[:2]) != algEd:
		return PublicKey{}, errors.New("is not a minisign Ed25519 public key")
	}
	var k PublicKey
	copy(k.ID[:], b[2:10])
	k.key = ed25519.PublicKey(bytes.Clone(b[10:]))
	return k, nil
}

// Keys is a set of public keys that reads accept.
type Keys []PublicKey

// ParsePublicKeys reads a comma-separated list of base64 public keys. A
// bad one is named by its position.
func ParsePublicKeys(list string) (Keys, error) {
	var out Keys
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		k, err := ParsePublicKey(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("key %d of %d %w", i+1, len(parts), err)
		}
		out = out.Add(k)
	}
	return out, nil
}

// Add returns the set with k, unless a key of that ID is there already.
func (ks Keys) Add(k PublicKey) Keys {
	if _, ok := ks.find(k.ID); ok {
		return ks
	}
	return append(ks, k)
}

func (ks Keys) find(id KeyID) (PublicKey, bool) {
	for _, k := range ks {
		if k.ID == id {
			return k, true
		}
	}
	return PublicKey{}, false
}

// String lists the key IDs, which are public.
func (ks Keys) String() string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID.String()
	}
	return strings.Join(ids, ",")
}

// SecretKey is an unencrypted minisign secret key. It prints as
// <redacted> through every fmt verb.
type SecretKey struct {
	id  KeyID
	key ed25519.PrivateKey
}

func (k *SecretKey) String() string               { return "<redacted: minisign secret key " + k.id.String() + ">" }
func (k *SecretKey) GoString() string             { return k.String() }
func (k *SecretKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
func (k *SecretKey) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(k.String())) }

// ID is the key number of the key pair.
func (k *SecretKey) ID() KeyID { return k.id }

// Public is the public key of the pair.
func (k *SecretKey) Public() PublicKey {
	return PublicKey{ID: k.id, key: bytes.Clone(k.key.Public().(ed25519.PublicKey))}
}

// ParseSecretKey reads a minisign secret key file written by
// `minisign -G -W` (no password). An encrypted one is ErrEncryptedKey.
// The key's checksum and its public half are checked. Errors never quote
// the input.
func ParseSecretKey(data []byte) (*SecretKey, error) {
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("holds more than %d bytes, too much for a minisign secret key", maxKeyFile)
	}
	line, err := keyLine(data, "secret key")
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(line)
	switch {
	case err != nil:
		return nil, errors.New("is not a minisign secret key (the file minisign -G -W writes)")
	case len(b) == publicKeyLen:
		return nil, errors.New("is a minisign PUBLIC key: signing needs the secret key file of minisign -G -W (its .key file)")
	case len(b) != secretKeyLen:
		return nil, fmt.Errorf("is not a minisign secret key: %d bytes where a key has %d", len(b), secretKeyLen)
	case string(b[:2]) != algEd:
		return nil, errors.New("is not a minisign Ed25519 secret key")
	case string(b[2:4]) == kdfScrypt:
		return nil, ErrEncryptedKey
	case string(b[2:4]) != kdfNone || string(b[4:6]) != chkBlake2b:
		return nil, errors.New("is a minisign secret key in an unknown format")
	}
	keynum := b[54:]
	id, sk, chk := keynum[:8], keynum[8:8+ed25519.PrivateKeySize], keynum[8+ed25519.PrivateKeySize:]
	// minisign -W (0.11) leaves the checksum zero; any other must match.
	h, _ := blake2b.New256(nil)
	h.Write(b[:2])
	h.Write(id)
	h.Write(sk)
	if !allZero(chk) && subtle.ConstantTimeCompare(h.Sum(nil), chk) != 1 {
		return nil, errors.New("is a minisign secret key whose checksum does not match: it is damaged")
	}
	key := ed25519.NewKeyFromSeed(sk[:ed25519.SeedSize])
	if subtle.ConstantTimeCompare(key[ed25519.SeedSize:], sk[ed25519.SeedSize:]) != 1 {
		return nil, errors.New("is a minisign secret key whose public half does not match: it is damaged")
	}
	k := &SecretKey{key: key}
	copy(k.id[:], id)
	return k, nil
}

// keyLine finds the one base64 line of a key file, past blank lines and
// "untrusted comment:" lines.
func keyLine(data []byte, what string) (string, error) {
	var line string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), maxKeyFile+1)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "untrusted comment:"):
			continue
		case line != "":
			return "", fmt.Errorf("holds more than one line besides its comment, where a minisign %s has one", what)
		}
		line = l
	}
	if sc.Err() != nil {
		return "", fmt.Errorf("holds a line too long for a minisign %s", what)
	}
	if line == "" {
		return "", fmt.Errorf("holds no minisign %s", what)
	}
	return line, nil
}

func allZero(b []byte) bool {
	var or byte
	for _, c := range b {
		or |= c
	}
	return or == 0
}
