package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Client-side encryption with age (age-encryption.org/v1): the backup
// contents are encrypted to public keys, so a cluster that writes backups
// holds nothing that reads them. The identities (secret keys) are needed
// only to read, and are read at Init: LoadIdentities.

// Encryption scopes: which keys PutObject encrypts.
const (
	// ScopeBackupContents encrypts backups/<name>/<name>.tar.gz, the one
	// object that holds the backed-up resources (Secrets among them).
	ScopeBackupContents = "backupContents"
	// ScopeAllGzip encrypts every .gz key: logs, results and the
	// per-backup lists too, which Velero's CLI then cannot show.
	ScopeAllGzip = "allGzip"
)

// maxIdentityFile bounds an identity file or Secret key: an age identity
// line is 74 bytes, so this holds hundreds of them with comments.
const maxIdentityFile = 64 << 10

// Identities are the age X25519 identities that read encrypted objects.
// They print as <redacted> through every fmt verb: X25519Identity's own
// String is the secret key.
type Identities []*age.X25519Identity

func (i Identities) String() string               { return fmt.Sprintf("<redacted: %d age identities>", len(i)) }
func (i Identities) GoString() string             { return i.String() }
func (i Identities) MarshalText() ([]byte, error) { return []byte(i.String()), nil }
func (i Identities) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(i.String())) }

// List is the identities as age takes them.
func (i Identities) List() []age.Identity {
	out := make([]age.Identity, len(i))
	for n, id := range i {
		out[n] = id
	}
	return out
}

// showRecipients is how a bad encryptionRecipients value appears in its
// error: each entry cut to 8 characters, so a secret key pasted there by
// mistake shows only its AGE-SECR prefix.
func showRecipients(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) > 8 {
			p = p[:8] + "…"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// setRecipients takes one or more age public keys (age1…), comma
// separated. A bad one is named by its position, never by its value.
func setRecipients(o *ObjectStore, v string) error {
	o.EncryptionRecipients = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	seen := map[string]int{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		pos := fmt.Sprintf("recipient %d of %d", i+1, len(parts))
		switch {
		case p == "":
			return fmt.Errorf("has an empty %s", pos)
		case strings.HasPrefix(strings.ToUpper(p), "AGE-SECRET-KEY-"):
			return fmt.Errorf("has as %s an age identity (a secret key), not a public key: put its public key here (age-keygen -y key.txt) "+
				"and keep the identity out of the BSL; only restores need it, from encryptionIdentitySecret", pos)
		case otherAgeKind(p) != "":
			return fmt.Errorf("has as %s %s; only X25519 recipients (age1… from age-keygen) are taken", pos, otherAgeKind(p))
		case strings.HasPrefix(p, "ssh-"):
			return fmt.Errorf("has as %s an SSH key; only age X25519 recipients (age1… from age-keygen) are taken", pos)
		}
		r, err := age.ParseX25519Recipient(p)
		if err != nil {
			return fmt.Errorf("has as %s something that is not an age X25519 public key (age1… from age-keygen)", pos)
		}
		if j, dup := seen[r.String()]; dup {
			return fmt.Errorf("repeats recipient %d as %s", j, pos)
		}
		seen[r.String()] = i + 1
		o.EncryptionRecipients = append(o.EncryptionRecipients, r)
	}
	return nil
}

func setEncryptionScope(o *ObjectStore, v string) error {
	for _, s := range []string{ScopeBackupContents, ScopeAllGzip} {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			o.EncryptionScope = s
			return nil
		}
	}
	return fmt.Errorf("is not %s (the backup contents, the default) or %s (every .gz key)", ScopeBackupContents, ScopeAllGzip)
}

func setIdentitySecret(o *ObjectStore, ref string) error {
	return setSecretRef(&o.EncryptionIdentitySecret, ref)
}

// setIdentityFile takes an absolute path; the file is read at Init
// (LoadIdentities), where I/O belongs.
func setIdentityFile(o *ObjectStore, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && !filepath.IsAbs(v) {
		return fmt.Errorf("is not an absolute path")
	}
	o.EncryptionIdentityFile = v
	return nil
}

// finishEncryption checks the combinations of the encryption keys.
func (o *ObjectStore) finishEncryption(present func(string) bool) error {
	if o.EncryptionIdentitySecret.Name != "" && o.EncryptionIdentityFile != "" {
		return fmt.Errorf("encryptionIdentitySecret and encryptionIdentityFile both name the age identity: set one")
	}
	if present("encryptionScope") && len(o.EncryptionRecipients) == 0 {
		return fmt.Errorf("encryptionScope says which objects are encrypted, but encryptionRecipients names no age public key to encrypt them to")
	}
	if o.EncryptionScope == "" {
		o.EncryptionScope = ScopeBackupContents
	}
	return nil
}

// otherAgeKind names the kind of an age recipient that is not X25519
// ("" for X25519 or not age at all). Bech32 puts the last "1" between the
// human-readable part and the data, whose alphabet has no "1": an X25519
// recipient's part is "age" (age1qpz…), a post-quantum one's "age1pq"
// (age1pq1…), a tag one's "age1tag" or "age1tagpq", a plugin's "age1" and
// its name. A prefix test would also catch the X25519 keys whose data
// happens to start with pq, one in 1,024.
func otherAgeKind(p string) string {
	p = strings.ToLower(p)
	hrp := p[:max(strings.LastIndex(p, "1"), 0)]
	switch {
	case !strings.HasPrefix(hrp, "age1"):
		return ""
	case hrp == "age1pq" || strings.HasPrefix(hrp, "age1tag"):
		return "a post-quantum or tag age recipient"
	}
	return "an age plugin's recipient (" + hrp + "1…)"
}

// Encrypted reports whether objects are written encrypted.
func (o *ObjectStore) Encrypted() bool { return len(o.EncryptionRecipients) > 0 }

// IdentitySource names where the identity comes from ("" for nowhere):
// the setting and its value.
func (o *ObjectStore) IdentitySource() string {
	key, value := o.identitySetting()
	if key == "" {
		return ""
	}
	return key + " " + value
}

func (o *ObjectStore) identitySetting() (key, value string) {
	switch {
	case o.EncryptionIdentitySecret.Name != "":
		return "encryptionIdentitySecret", o.EncryptionIdentitySecret.String()
	case o.EncryptionIdentityFile != "":
		return "encryptionIdentityFile", o.EncryptionIdentityFile
	}
	return "", ""
}

// LoadIdentityFile reads encryptionIdentityFile, when it is set, into
// EncryptionIdentities. Init calls it; errors never hold the file's text.
func (o *ObjectStore) LoadIdentityFile() error {
	return o.readKeyFile("encryptionIdentityFile", o.EncryptionIdentityFile, func(data []byte) error {
		ids, err := parseIdentities(data)
		if err == nil {
			o.EncryptionIdentities = ids
		}
		return err
	})
}

// readKeyFile reads the key file that setting names at path, when it is
// set, and hands its bytes to parse. An error names the setting, where it
// was set and the path, with why: the file's text never, nor parse's
// error beyond its own words.
func (o *ObjectStore) readKeyFile(setting, path string, parse func([]byte) error) error {
	if path == "" {
		return nil
	}
	bad := func(why string) error { return valueError(o.Origin[setting], setting, path, why) }
	f, err := openRegular(path)
	if err != nil {
		return bad(err.Error())
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return bad(fmt.Sprintf("cannot be read: %v", bareOSError(err)))
	}
	if err := parse(data); err != nil {
		return bad(err.Error())
	}
	return nil
}

// SetIdentitiesFromSecret sets EncryptionIdentities from the Secret that
// EncryptionIdentitySecret names: data is what reading it from namespace
// returned, readErr why that failed. Errors name the setting, the Secret
// and the key, and never hold the key's value.
func (o *ObjectStore) SetIdentitiesFromSecret(namespace string, data map[string][]byte, readErr error) error {
	return o.fromSecret("encryptionIdentitySecret", o.EncryptionIdentitySecret, namespace, data, readErr, func(value []byte) error {
		ids, err := parseIdentities(value)
		o.EncryptionIdentities = ids
		return err
	})
}

// parseIdentities reads an age identity file: AGE-SECRET-KEY-1… lines,
// blank lines and # comments (age-keygen writes two). Its errors name a
// line by number and never quote it; age's own would quote parts of it.
func parseIdentities(data []byte) (Identities, error) {
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("holds more than %s, too much for an age identity file", ShowSize(maxIdentityFile))
	}
	var ids Identities
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxIdentityFile+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "age1"):
			return nil, fmt.Errorf("holds at line %d a public key (age1…): the identity is the AGE-SECRET-KEY-1… line of the file age-keygen wrote", n)
		case strings.HasPrefix(line, "AGE-PLUGIN-"):
			return nil, fmt.Errorf("holds at line %d an age plugin identity; only X25519 identities (AGE-SECRET-KEY-1…) are taken", n)
		case !strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
			return nil, fmt.Errorf("holds at line %d something that is not an age identity (AGE-SECRET-KEY-1…)", n)
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("holds at line %d a malformed age identity", n)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("holds a line too long for an age identity file")
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("holds no age identity (AGE-SECRET-KEY-1…)")
	}
	return ids, nil
}

// identityField adds to the settings line the identities, only as a
// count, where they came from and which recipients they open.
func (o *ObjectStore) identityField(f map[string]any) {
	key, _ := o.identitySetting()
	if key == "" {
		if o.Encrypted() {
			f["encryptionIdentity"] = "none: restores of encrypted backups need encryptionIdentitySecret or encryptionIdentityFile"
		}
		return
	}
	var opens []string
	for n, r := range o.EncryptionRecipients {
		for _, id := range o.EncryptionIdentities {
			if id.Recipient().String() == r.String() {
				opens = append(opens, fmt.Sprint(n+1))
				break
			}
		}
	}
	match := "opens none of encryptionRecipients (an escrow or older key)"
	switch {
	case !o.Encrypted():
		match = "reads encrypted objects; new ones are written unencrypted"
	case len(opens) > 0:
		match = "opens recipient " + strings.Join(opens, ", ")
	}
	f["encryptionIdentity"] = fmt.Sprintf("%v (%s in %s; %s)", o.EncryptionIdentities, o.IdentitySource(), o.Origin[key], match)
}

// Recipients is EncryptionRecipients as age takes them.
func (o *ObjectStore) Recipients() []age.Recipient {
	out := make([]age.Recipient, len(o.EncryptionRecipients))
	for i, r := range o.EncryptionRecipients {
		out[i] = r
	}
	return out
}
