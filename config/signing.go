package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"example.io/velero-plugin-s3csi/internal/minisig"
)

// Signatures: with a minisign secret key set, every object written gets a
// detached signature beside it (<key>.minisig, minisign -H format), and
// every read checks the signature of what it reads against the accepted
// public keys (verifyPublicKeys and the signing key's own). The secret key
// is read at Init: LoadSigningKeyFile or SetSigningKeyFromSecret.

// SigningFields are the signing settings of ObjectStore.
type SigningFields struct {
	// SigningKey signs every object written; Init reads it from
	// SigningKeySecret or SigningKeyFile. It prints as <redacted>.
	SigningKey       *minisig.SecretKey
	SigningKeySecret SecretKeyRef
	SigningKeyFile   string
	// VerifyPublicKeys are the public keys besides the signing key's
	// whose signatures reads accept.
	VerifyPublicKeys minisig.Keys
	// RequireSignatures makes a read of an unsigned object, or of one
	// whose signature does not verify, fail; without it an unsigned
	// object reads with a warning (a bad signature fails always).
	RequireSignatures bool
}

func setSigningKeySecret(o *ObjectStore, ref string) error {
	return setSecretRef(&o.SigningKeySecret, ref)
}

// setSigningKeyFile takes an absolute path; the file is read at Init.
func setSigningKeyFile(o *ObjectStore, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && !filepath.IsAbs(v) {
		return fmt.Errorf("is not an absolute path")
	}
	o.SigningKeyFile = v
	return nil
}

func setVerifyPublicKeys(o *ObjectStore, v string) (err error) {
	o.VerifyPublicKeys, err = minisig.ParsePublicKeys(v)
	return err
}

func setRequireSignatures(o *ObjectStore, v string) (err error) {
	o.RequireSignatures, err = parseBool(v)
	return err
}

// finishSigning checks the combinations of the signing keys.
func (o *ObjectStore) finishSigning() error {
	if o.SigningKeySecret.Name != "" && o.SigningKeyFile != "" {
		return fmt.Errorf("signingKeySecret and signingKeyFile both name the minisign secret key: set one")
	}
	if o.RequireSignatures && o.SigningKeySecret.Name == "" && o.SigningKeyFile == "" && len(o.VerifyPublicKeys) == 0 {
		return fmt.Errorf("requireSignatures is true, but no key could check a signature: " +
			"set verifyPublicKeys (minisign public keys) or signingKeySecret/signingKeyFile")
	}
	return nil
}

// Signs reports whether objects are written with a signature: a signing
// key is named (Init reads it).
func (o *ObjectStore) Signs() bool { return o.SigningKeySecret.Name != "" || o.SigningKeyFile != "" }

// Checks reports whether reads check signatures: some public key is
// accepted.
func (o *ObjectStore) Checks() bool { return o.Signs() || len(o.VerifyPublicKeys) > 0 }

// AcceptedKeys are the public keys whose signatures reads accept: the
// signing key's and verifyPublicKeys.
func (o *ObjectStore) AcceptedKeys() minisig.Keys {
	keys := minisig.Keys{}
	if o.SigningKey != nil {
		keys = keys.Add(o.SigningKey.Public())
	}
	for _, k := range o.VerifyPublicKeys {
		keys = keys.Add(k)
	}
	return keys
}

// LoadSigningKeyFile reads signingKeyFile, when it is set, into
// SigningKey. Init calls it; errors never hold the file's text.
func (o *ObjectStore) LoadSigningKeyFile() error {
	return o.readKeyFile("signingKeyFile", o.SigningKeyFile, func(data []byte) error {
		k, err := minisig.ParseSecretKey(data)
		if err == nil {
			o.SigningKey = k
		}
		return err
	})
}

// SetSigningKeyFromSecret sets SigningKey from the Secret that
// SigningKeySecret names, as read from namespace (data, or readErr).
// Errors name the setting, the Secret and the key, never the value.
func (o *ObjectStore) SetSigningKeyFromSecret(namespace string, data map[string][]byte, readErr error) error {
	return o.fromSecret("signingKeySecret", o.SigningKeySecret, namespace, data, readErr, func(value []byte) error {
		k, err := minisig.ParseSecretKey(value)
		o.SigningKey = k
		return err
	})
}

// signingKeyField adds the signing key to the settings line: its key ID
// only, which is public.
func (o *ObjectStore) signingKeyField(f map[string]any) {
	switch {
	case o.SigningKey != nil:
		from := "signingKeyFile " + o.SigningKeyFile
		if o.SigningKeySecret.Name != "" {
			from = "signingKeySecret " + o.SigningKeySecret.String()
		}
		key := "signingKeyFile"
		if o.SigningKeySecret.Name != "" {
			key = "signingKeySecret"
		}
		f["signingKey"] = fmt.Sprintf("%v (%s in %s): every object gets <key>.minisig", o.SigningKey, from, o.Origin[key])
	case o.Signs():
		f["signingKey"] = "named, not read yet"
	default:
		f["signingKey"] = "none: objects are written without signatures"
	}
}
