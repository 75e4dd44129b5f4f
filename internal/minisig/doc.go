// Package minisig signs and checks streams in minisign's prehashed format
// (minisign -H: Ed25519 over the BLAKE2b-512 of the data), so that the
// .minisig files it writes verify with the minisign CLI and any minisign
// library. It knows nothing of S3 or Velero: the caller says which bytes
// are hashed and which object key a signature must name.
//
//	sk, err := minisig.ParseSecretKey(fileBytes)      // minisign -G -W; encrypted: ErrEncryptedKey
//	keys, err := minisig.ParsePublicKeys("RWQ…,RWQ…") // base64 lines or .pub files
//	d := minisig.NewDigest()                          // an io.Writer: feed it the stored bytes
//	sig := sk.Sign(d, "backups/b1/b1.tar.gz", time.Now()) // the .minisig file
//	s, err := minisig.ParseSignature(sigBytes)        // strict; err wraps ErrBadSignature
//	c, err := s.Verify(d, keys, "backups/b1/b1.tar.gz")
//
// Verify's errors wrap ErrUnknownSigner (no key of the set made it),
// ErrBadSignature (the data or the signature was altered) or ErrWrongObject
// (a valid signature of another object: moved or copied); ErrUnsigned is
// for the caller to say that an object has no signature at all. The trusted
// comment, signed with the data, is a Comment:
// `s3csi-v1 key=backups/b1/b1.tar.gz size=123 time=2026-12-06T21:30:00Z`.
package minisig
