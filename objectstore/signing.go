package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/minisig"
)

// Signatures: with signingKeySecret or signingKeyFile set, every object
// the plugin writes gets a detached minisign signature (minisign -H) of
// its stored bytes (the ciphertext when it is encrypted) as
// <key>.minisig, computed as the object streams up and written once the
// object is. Its trusted comment names the key relative to the BSL prefix
// and the size, so a signature (and its object) copied or moved to
// another key does not verify. With any public key accepted
// (verifyPublicKeys, or the signing key's own), every read fetches the
// signature beside the object and hashes the stored bytes as they stream in; a
// signature that does not verify turns the end of the object into an
// error. An unsigned object reads with a warning, or fails with
// requireSignatures. Velero never sees a .minisig: listings leave them
// out and DeleteObject removes the signature with its object.

// sigSuffix ends every signature object's key.
const sigSuffix = ".minisig"

// maxSigObject bounds what is read of a signature object.
const maxSigObject = 16 << 10

// isSignature reports whether key is a signature object.
func isSignature(key string) bool { return strings.HasSuffix(key, sigSuffix) }

// signedName is key as a signature names it: relative to the BSL prefix,
// so that a location moved to another prefix still verifies.
func (s *Store) signedName(key string) string {
	p := strings.TrimSuffix(s.cfg.Prefix, "/")
	if p == "" {
		return key
	}
	if rest, ok := strings.CutPrefix(key, p+"/"); ok {
		return rest
	}
	return key
}

// errLeftUnsigned marks a put whose object stayed without its signature.
var errLeftUnsigned = errors.New("left unsigned")

// putSignature writes the signature of what d hashed beside bucket/key,
// with the object's Object Lock retention and SSE headers. If it cannot
// be written, the object it was to sign is deleted again, so a failed
// put leaves neither; the error says whether that delete worked.
func (u *upload) putSignature(ctx context.Context, d *minisig.Digest) error {
	c := u.s.cfg
	body := c.SigningKey.Sign(d, u.s.signedName(u.key), time.Now())
	sigKey := u.key + sigSuffix
	in := &s3.PutObjectInput{
		Bucket:        aws.String(u.bucket),
		Key:           aws.String(sigKey),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("text/plain"),
	}
	u.s.sse.applyPut(in)
	applyLockPut(in, c.ObjectLockMode, u.until)
	sum(u.s.facts.checksum, body).applyPut(in)
	in.Body = bytes.NewReader(body)
	rctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	_, err := u.s.s3.PutObject(rctx, in) // a small request: the SDK retries it
	err = cause(rctx, err)
	cancel()
	if err == nil {
		u.log.WithField("signature", sigKey).Debug("object signed")
		return nil
	}
	err = translate("put signature", u.bucket, sigKey, err)
	if derr := u.s.deleteObject(context.WithoutCancel(ctx), u.bucket, u.key); derr != nil { // taking it back must not be cut short
		return fmt.Errorf("%w; the object it signs was written, and deleting it again failed too, so it is %w: %w", err, errLeftUnsigned, derr)
	}
	how := "deleted again"
	if c.ObjectLockMode != "" || u.s.facts.retention {
		how = "hidden again by a delete marker (its locked version stays until its retain-until date)"
	}
	return fmt.Errorf("%w; the object it signs was %s", err, how)
}

// dropStaleSignature deletes key's signature after an unsigned write
// by a BSL that checks signatures but does not sign: the signature of an
// object overwritten would otherwise fail its every read.
func (u *upload) dropStaleSignature(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, u.s.cfg.RequestTimeout)
	defer cancel()
	sigKey := u.key + sigSuffix
	_, err := u.s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(sigKey)})
	if err != nil && !isNotFound(err) {
		return translate("delete the older signature", u.bucket, sigKey, err)
	}
	return nil
}

// fetchSignature reads key's signature for GetObject: nil when there is
// none. A signature that does not parse, or is by a key not accepted,
// fails here, before the object is read.
func (s *Store) fetchSignature(ctx context.Context, bucket, key string) (*minisig.Signature, error) {
	sigKey := key + sigSuffix
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(sigKey)}
	s.sse.applyGet(in)
	var data []byte
	out, err := s.s3.GetObject(rctx, in) // a small request: the SDK retries it
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(out.Body, maxSigObject+1))
		out.Body.Close()
	}
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, s.explain(ctx, translate("get signature", bucket, sigKey, err), "s3:GetObject", s.objectsARN(bucket))
	}
	sig, err := minisig.ParseSignature(data)
	if err != nil {
		return nil, err
	}
	if _, ok := s.keyOf(sig); !ok {
		return nil, fmt.Errorf("%w: it was made by minisign key %s, and the keys accepted (verifyPublicKeys and the signing key's) are %s",
			minisig.ErrUnknownSigner, sig.KeyID, s.cfg.AcceptedKeys())
	}
	return sig, nil
}

// signatureOf is what GetObject checks bucket/key against: nil when
// nothing is checked (no key accepted) or the object is unsigned
// (unsigned: then unsignedRead says what of it, once the object is
// found to exist).
func (s *Store) signatureOf(ctx context.Context, bucket, key string) (sig *minisig.Signature, unsigned bool, err error) {
	if !s.cfg.Checks() {
		return nil, false, nil
	}
	sig, err = s.fetchSignature(ctx, bucket, key)
	switch {
	case signatureFailed(err):
		return nil, false, signatureError(bucket, key, err)
	case err != nil:
		return nil, false, err
	}
	return sig, sig == nil, nil
}

// unsignedRead is the verdict on an object that exists without a
// signature: an error with requireSignatures, else a warning naming it.
func (s *Store) unsignedRead(log logrus.FieldLogger, bucket, key string) error {
	if s.cfg.RequireSignatures {
		return signatureError(bucket, key, fmt.Errorf("%w: it does not exist, and requireSignatures is true", minisig.ErrUnsigned))
	}
	log.WithField("signature", key+sigSuffix).Warn("the object has no signature: it is read unchecked (requireSignatures \"true\" would refuse it)")
	return nil
}

func (s *Store) keyOf(sig *minisig.Signature) (minisig.PublicKey, bool) {
	for _, k := range s.cfg.AcceptedKeys() {
		if k.ID == sig.KeyID {
			return k, true
		}
	}
	return minisig.PublicKey{}, false
}

// signatureError is a failed check of bucket/key: it names the object and
// its signature, wraps minisig's sentinel, and says what to do.
func signatureError(bucket, key string, err error) error {
	return fmt.Errorf("get %s/%s: signature %s%s: %w; the object is not what this location's signing key wrote: "+
		"do not restore from it (compare with `minisign -Vm FILE -x FILE.minisig -P KEY`)", bucket, key, key, sigSuffix, err)
}

// signatureFailed reports whether err is a failed signature check.
func signatureFailed(err error) bool {
	return errors.Is(err, minisig.ErrBadSignature) || errors.Is(err, minisig.ErrWrongObject) ||
		errors.Is(err, minisig.ErrUnknownSigner) || errors.Is(err, minisig.ErrUnsigned)
}

// verifying is a download's signature check: the read-ahead feeds d the
// stored bytes in order (a resume continues where the last range broke),
// and verdict judges the signature once the last byte arrived.
type verifying struct {
	d    *minisig.Digest
	keys minisig.Keys
	name string // the key as the signature must name it
	// known is closed once sig is set: the signature is fetched beside
	// the object, and may come after its last byte.
	known chan struct{}
	sig   *minisig.Signature // nil: the object has none, and is read unchecked
}

// judge is the verdict on a download's signature. When it fails, the
// signature is read once more: a read beside an overwrite of the key
// (Velero writes velero-backup.json again when a backup completes) may
// have got the new object and the old signature. What was read must then
// verify under the signature stored now; bytes no signature covers stay
// refused.
func (s *Store) judge(ctx context.Context, log logrus.FieldLogger, bucket, key string, v *verifying) (string, error) {
	signer, err := v.verdict()
	if err == nil || v.sig == nil {
		return signer, err
	}
	again, ferr := s.fetchSignature(ctx, bucket, key)
	if ferr != nil || again == nil || bytes.Equal(again.Marshal(), v.sig.Marshal()) {
		return "", err
	}
	v.sig = again
	if signer, nerr := v.verdict(); nerr == nil {
		log.WithField("signer", signer).Info("the signature changed while the object was read (the key was written again); the new one verifies what was read")
		return signer, nil
	}
	return "", err
}

// signatureAnswer is what fetching an object's signature gave.
type signatureAnswer struct {
	sig      *minisig.Signature
	unsigned bool
	err      error
}

// settle sets the signature the verdict judges by (nil for none); once.
func (v *verifying) settle(sig *minisig.Signature) {
	v.sig = sig
	close(v.known)
}

// feed hashes the next stored bytes, until the signature is known to be
// missing: an unsigned object read unchecked is not hashed for nothing.
func (v *verifying) feed(p []byte) {
	select {
	case <-v.known:
		if v.sig == nil {
			return
		}
	default:
	}
	_, _ = v.d.Write(p)
}

// verdict judges the signature once it is known: the signer's key ID
// when it verifies, "" for an object read unchecked.
func (v *verifying) verdict() (string, error) {
	<-v.known
	if v.sig == nil {
		return "", nil
	}
	if _, err := v.sig.Verify(v.d, v.keys, v.name); err != nil {
		return "", err
	}
	return v.sig.KeyID.String(), nil
}
