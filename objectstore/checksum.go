package objectstore

import (
	"crypto/md5"  //nolint:gosec // Content-MD5 is what S3 Object Lock demands
	"crypto/sha1" //nolint:gosec // an S3 checksum choice, not security
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// crc64NVME is CRC-64/NVME in Go's reflected form (same init and xor-out).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// newHash returns the hash behind a checksumAlgorithm value, nil for none.
func newHash(alg string) hash.Hash {
	switch alg {
	case "MD5":
		return md5.New() //nolint:gosec
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		return crc64.New(crc64NVME)
	case "SHA1":
		return sha1.New() //nolint:gosec
	case "SHA256":
		return sha256.New()
	}
	return nil
}

// checksum is one computed value, base64 as S3 headers carry it.
type checksum struct {
	alg   string
	value string
}

func sum(alg string, data []byte) checksum {
	h := newHash(alg)
	if h != nil {
		h.Write(data)
	}
	return hashSum(alg, h)
}

// hashSum is h's value (h fed by the caller), nil for none.
func hashSum(alg string, h hash.Hash) checksum {
	if h == nil {
		return checksum{}
	}
	return checksum{alg: alg, value: base64.StdEncoding.EncodeToString(h.Sum(nil))}
}

func ptr(s string) *string { return &s }

func (c checksum) applyPut(in *s3.PutObjectInput) {
	switch c.alg {
	case "MD5":
		in.ContentMD5 = ptr(c.value)
	case "CRC32":
		in.ChecksumCRC32 = ptr(c.value)
	case "CRC32C":
		in.ChecksumCRC32C = ptr(c.value)
	case "CRC64NVME":
		in.ChecksumCRC64NVME = ptr(c.value)
	case "SHA1":
		in.ChecksumSHA1 = ptr(c.value)
	case "SHA256":
		in.ChecksumSHA256 = ptr(c.value)
	}
}

func (c checksum) applyPart(in *s3.UploadPartInput, done *types.CompletedPart) {
	switch c.alg {
	case "MD5":
		in.ContentMD5 = ptr(c.value)
	case "CRC32":
		in.ChecksumCRC32, done.ChecksumCRC32 = ptr(c.value), ptr(c.value)
	case "CRC32C":
		in.ChecksumCRC32C, done.ChecksumCRC32C = ptr(c.value), ptr(c.value)
	case "CRC64NVME":
		in.ChecksumCRC64NVME, done.ChecksumCRC64NVME = ptr(c.value), ptr(c.value)
	case "SHA1":
		in.ChecksumSHA1, done.ChecksumSHA1 = ptr(c.value), ptr(c.value)
	case "SHA256":
		in.ChecksumSHA256, done.ChecksumSHA256 = ptr(c.value), ptr(c.value)
	}
}

// flexible reports whether alg is an S3 flexible checksum (not MD5, not none).
func flexible(alg string) bool { return alg != "" && alg != "MD5" }
