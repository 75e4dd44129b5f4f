package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/minisig"
	"example.io/velero-plugin-s3csi/objectstore"
)

// sigSuffix is where a signature is stored: beside its object.
const sigSuffix = ".minisig"

// signatures checks each of the backup's objects against its .minisig:
// made by an accepted key over the stored bytes (the ciphertext of an
// encrypted object) and naming that object's key under the BSL's prefix,
// so a signature moved or copied from another object fails. tarball is
// the tarball's digest from its read, nil when it was not read whole.
func (v *verifier) signatures(ctx context.Context, c *checks, dir, name string, present map[string]objectstore.ObjectInfo, sigs map[string]bool, tarball *minisig.Digest, tarErr error) {
	if len(v.keys) == 0 {
		if sigs[name+".tar.gz"] {
			c.note("signatures", fmt.Sprintf("signed (%s.tar.gz%s is there), not checked: no public key given (--public-key, or the BSL's verifyPublicKeys or signing key)", name, sigSuffix))
		}
		return
	}
	c.check("signatures", func() (string, error) {
		var bad []string
		signers := map[string]bool{}
		checked := 0
		for _, base := range sortedKeys(present) {
			if base == name+".tar.gz" && v.quick {
				continue
			}
			rel := path.Join("backups", name, base)
			if !sigs[base] {
				bad = append(bad, fmt.Sprintf("%s has no signature (%s%s is not there)", base, base, sigSuffix))
				continue
			}
			d := tarball
			if base != name+".tar.gz" {
				var err error
				if d, err = v.digest(ctx, dir+base); err != nil {
					bad = append(bad, fmt.Sprintf("%s: %v", base, err))
					continue
				}
			} else if d == nil {
				bad = append(bad, fmt.Sprintf("%s: not read whole (%v)", base, tarErr))
				continue
			}
			sig, err := v.readSignature(ctx, dir+base+sigSuffix)
			if err == nil {
				_, err = sig.Verify(d, v.keys, rel)
			}
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", base, err))
				continue
			}
			signers[sig.KeyID.String()] = true
			checked++
		}
		if len(bad) > 0 {
			return "", finding.Fail("", errors.New(strings.Join(bad, "; ")),
				"the objects named were changed, replaced or copied after the backup was written: restore from another backup, and find who can write to the bucket")
		}
		what := fmt.Sprintf("%d objects signed by minisign key %s, each signature naming its own object", checked, strings.Join(sortedKeys(signers), ", "))
		if v.quick {
			what += " (the tarball's not checked: --quick)"
		}
		return what, nil
	})
}

// digest hashes an object's stored bytes.
func (v *verifier) digest(ctx context.Context, key string) (*minisig.Digest, error) {
	rc, err := v.s.GetStored(ctx, v.c.Bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	d := minisig.NewDigest()
	if _, err := io.Copy(d, rc); err != nil {
		return nil, err
	}
	return d, nil
}

// readSignature reads and parses a .minisig object.
func (v *verifier) readSignature(ctx context.Context, key string) (*minisig.Signature, error) {
	rc, err := v.s.GetStored(ctx, v.c.Bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return nil, err
	}
	return minisig.ParseSignature(data)
}
