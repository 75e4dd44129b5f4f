package minisig_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/minisig"
)

// minisignCLI is Debian's minisign, as hack/tool.sh installs it. (Not
// through internal/testenv: the fuzz targets of this package would then
// build all of Kubernetes and Velero with coverage instrumentation.)
func minisignCLI(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	tool := filepath.Join(filepath.Dir(file), "..", "..", "hack", "tool.sh")
	out, err := exec.Command("bash", tool, "--check", "minisign").Output()
	if err != nil {
		t.Fatalf("test tool minisign is missing: run `bash hack/tool.sh minisign` (it installs Debian's minisign; `make tools` gets those of `make test`)")
	}
	return strings.TrimSpace(string(out))
}

// cliKey makes a key pair with Debian's minisign CLI (minisign -G -W) and
// returns the secret key file, the .pub file and the CLI's path.
func cliKey(t *testing.T) (sk, pub []byte, bin, dir string) {
	t.Helper()
	bin = minisignCLI(t)
	dir = t.TempDir()
	out, err := exec.Command(bin, "-G", "-W", "-s", filepath.Join(dir, "k.key"), "-p", filepath.Join(dir, "k.pub")).CombinedOutput()
	require.NoError(t, err, "minisign -G -W: %s", out)
	sk, err = os.ReadFile(filepath.Join(dir, "k.key"))
	require.NoError(t, err)
	pub, err = os.ReadFile(filepath.Join(dir, "k.pub"))
	require.NoError(t, err)
	return sk, pub, bin, dir
}

func digest(data []byte) *minisig.Digest {
	d := minisig.NewDigest()
	// in uneven pieces, as a stream arrives
	for len(data) > 0 {
		n := min(len(data), 7777)
		_, _ = d.Write(data[:n])
		data = data[n:]
	}
	return d
}

var at = time.Date(2026, 12, 6, 21, 30, 0, 0, time.UTC)

// What the package signs verifies with the minisign CLI, which prints the
// trusted comment; what the CLI signs (-H, with our comment) verifies here.
func TestAgainstTheCLI(t *testing.T) {
	skFile, pubFile, bin, dir := cliKey(t)
	sk, err := minisig.ParseSecretKey(skFile)
	require.NoError(t, err)
	pub, err := minisig.ParsePublicKey(string(pubFile))
	require.NoError(t, err)
	assert.Equal(t, pub.String(), sk.Public().String(), "the .pub file is the secret key's public half")
	pubLine := strings.TrimSpace(strings.Split(strings.TrimSpace(string(pubFile)), "\n")[1])
	assert.Equal(t, pubLine, pub.String())

	data := make([]byte, 3<<20+17)
	_, _ = rand.Read(data)
	file := filepath.Join(dir, "b1.tar.gz")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	sig := sk.Sign(digest(data), "backups/b1/b1.tar.gz", at)
	require.NoError(t, os.WriteFile(file+".minisig", sig, 0o600))
	out, err := exec.Command(bin, "-Vm", file, "-x", file+".minisig", "-P", pub.String()).CombinedOutput()
	require.NoError(t, err, "minisign -V: %s", out)
	assert.Contains(t, string(out), "Trusted comment: s3csi-v1 key=backups/b1/b1.tar.gz size=3145745 time=2026-12-06T21:30:00Z")

	// the CLI rejects a flipped byte of what we signed
	data[len(data)/2] ^= 1
	require.NoError(t, os.WriteFile(file, data, 0o600))
	out, err = exec.Command(bin, "-Vm", file, "-x", file+".minisig", "-P", pub.String()).CombinedOutput()
	require.Error(t, err, "minisign -V accepted altered data: %s", out)
	data[len(data)/2] ^= 1
	require.NoError(t, os.WriteFile(file, data, 0o600))

	// the CLI signs (prehashed, its 0.11 default) with our comment: we verify it
	comment := minisig.Comment{Key: "backups/b1/b1.tar.gz", Size: int64(len(data)), Time: at}.String()
	out, err = exec.Command(bin, "-S", "-H", "-s", filepath.Join(dir, "k.key"), "-m", file, "-x", file+".cli", "-t", comment).CombinedOutput()
	require.NoError(t, err, "minisign -S: %s", out)
	cliSig, err := os.ReadFile(file + ".cli")
	require.NoError(t, err)
	s, err := minisig.ParseSignature(cliSig)
	require.NoError(t, err)
	c, err := s.Verify(digest(data), minisig.Keys{pub}, "backups/b1/b1.tar.gz")
	require.NoError(t, err)
	assert.Equal(t, minisig.Comment{Key: "backups/b1/b1.tar.gz", Size: int64(len(data)), Time: at}, c)
	_, err = s.Verify(digest(data[1:]), minisig.Keys{pub}, "backups/b1/b1.tar.gz")
	assert.ErrorIs(t, err, minisig.ErrBadSignature)

	// the CLI's own trusted comment (timestamp:… file:… hashed) is not ours
	out, err = exec.Command(bin, "-S", "-s", filepath.Join(dir, "k.key"), "-m", file, "-x", file+".plain").CombinedOutput()
	require.NoError(t, err, "minisign -S: %s", out)
	plain, err := os.ReadFile(file + ".plain")
	require.NoError(t, err)
	s, err = minisig.ParseSignature(plain)
	require.NoError(t, err)
	_, err = s.Verify(digest(data), minisig.Keys{pub}, "backups/b1/b1.tar.gz")
	assert.ErrorIs(t, err, minisig.ErrWrongObject)
}

// aead.dev/minisign, the Go library, agrees both ways.
func TestAgainstTheLibrary(t *testing.T) {
	lpub, lsk, err := minisign.GenerateKey(rand.Reader)
	require.NoError(t, err)
	skText, err := lsk.MarshalText()
	require.NoError(t, err)
	sk, err := minisig.ParseSecretKey(skText)
	require.NoError(t, err)
	pub, err := minisig.ParsePublicKey(lpub.String())
	require.NoError(t, err)
	assert.Equal(t, pub.String(), sk.Public().String())
	assert.Equal(t, fmt.Sprintf("%016X", lpub.ID()), pub.ID.String())

	for _, size := range []int{0, 1, 64 << 10, 1<<20 + 3} {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		sig := sk.Sign(digest(data), "k", at)
		r := minisign.NewReader(bytes.NewReader(data))
		_, _ = r.Read(make([]byte, size+1))
		assert.True(t, r.Verify(lpub, sig), "the library rejects our signature of %d bytes", size)

		theirs := r.SignWithComments(lsk, minisig.Comment{Key: "k", Size: int64(size), Time: at}.String(), "theirs")
		s, err := minisig.ParseSignature(theirs)
		require.NoError(t, err)
		_, err = s.Verify(digest(data), minisig.Keys{pub}, "k")
		assert.NoError(t, err, "%d bytes", size)
	}

	// a legacy (not prehashed) signature is refused
	legacy := minisign.SignWithComments(lsk, []byte("x"), "t", "u")
	_, err = minisig.ParseSignature(legacy)
	assert.ErrorIs(t, err, minisig.ErrBadSignature)
	assert.ErrorContains(t, err, "legacy")

	// an encrypted key is refused with the command that makes a plain one
	// (as minisign -G without -W marks it: KDF "Sc"; the library's
	// EncryptKey would spend seconds of scrypt making a real one)
	raw, err := base64.StdEncoding.DecodeString(strings.Split(strings.TrimSpace(string(skText)), "\n")[1])
	require.NoError(t, err)
	copy(raw[2:4], "Sc")
	_, err = minisig.ParseSecretKey([]byte("untrusted comment: minisign encrypted secret key\n" + b64(raw) + "\n"))
	assert.ErrorIs(t, err, minisig.ErrEncryptedKey)
	assert.ErrorContains(t, err, "minisign -G -W")
}

func TestVerifyFailures(t *testing.T) {
	_, sk1, _ := minisign.GenerateKey(rand.Reader)
	_, sk2, _ := minisign.GenerateKey(rand.Reader)
	key := func(k minisign.PrivateKey) *minisig.SecretKey {
		b, _ := k.MarshalText()
		s, err := minisig.ParseSecretKey(b)
		require.NoError(t, err)
		return s
	}
	k1, k2 := key(sk1), key(sk2)
	data := []byte("the backup")
	good := k1.Sign(digest(data), "backups/b1/b1.tar.gz", at)
	other := k1.Sign(digest(data), "backups/b2/b2.tar.gz", at)
	mutate := func(sig []byte, line int, f func(string) string) []byte {
		l := strings.Split(string(sig), "\n")
		l[line] = f(l[line])
		return []byte(strings.Join(l, "\n"))
	}
	for _, tc := range []struct {
		name string
		sig  []byte
		data []byte
		keys minisig.Keys
		want error
		text string
	}{
		{"good", good, data, minisig.Keys{k1.Public()}, nil, ""},
		{"good among keys", good, data, minisig.Keys{k2.Public(), k1.Public()}, nil, ""},
		{"untrusted comment changed", mutate(good, 0, func(string) string { return "untrusted comment: whatever" }), data, minisig.Keys{k1.Public()}, nil, ""},
		{"data altered", good, []byte("the backuP"), minisig.Keys{k1.Public()}, minisig.ErrBadSignature, "altered or replaced"},
		{"data cut", good, data[:5], minisig.Keys{k1.Public()}, minisig.ErrBadSignature, ""},
		{"other key", good, data, minisig.Keys{k2.Public()}, minisig.ErrUnknownSigner, k1.ID().String()},
		{"no keys", good, data, nil, minisig.ErrUnknownSigner, ""},
		{"moved", other, data, minisig.Keys{k1.Public()}, minisig.ErrWrongObject, `signs "backups/b2/b2.tar.gz"`},
		{"trusted comment changed", mutate(good, 2, func(s string) string { return strings.Replace(s, "b1/b1", "b2/b2", 1) }), data, minisig.Keys{k1.Public()}, minisig.ErrBadSignature, "trusted comment was altered"},
		{"key ID changed", mutate(good, 1, func(s string) string { return s[:4] + "AAAAAAAAAAAA" + s[16:] }), data, minisig.Keys{k1.Public()}, minisig.ErrUnknownSigner, ""},
		{"signature truncated", good[:len(good)-20], data, minisig.Keys{k1.Public()}, minisig.ErrBadSignature, ""},
		{"empty", nil, data, minisig.Keys{k1.Public()}, minisig.ErrBadSignature, "lines"},
		{"two signatures", append(bytes.Clone(good), good...), data, minisig.Keys{k1.Public()}, minisig.ErrBadSignature, "lines"},
		{"CRLF", []byte(strings.ReplaceAll(string(good), "\n", "\r\n")), data, minisig.Keys{k1.Public()}, minisig.ErrBadSignature, "carriage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := minisig.ParseSignature(tc.sig)
			if err == nil {
				_, err = s.Verify(digest(tc.data), tc.keys, "backups/b1/b1.tar.gz")
			}
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, tc.text)
			for _, other := range []error{minisig.ErrBadSignature, minisig.ErrWrongObject, minisig.ErrUnknownSigner} {
				if other != tc.want {
					assert.False(t, errors.Is(err, other), "also %v", other)
				}
			}
		})
	}
}

func TestKeyParsing(t *testing.T) {
	lpub, lsk, _ := minisign.GenerateKey(rand.Reader)
	skText, _ := lsk.MarshalText()
	pubFile, _ := lpub.MarshalText()
	skLine := strings.Split(strings.TrimSpace(string(skText)), "\n")[1]
	for _, tc := range []struct {
		name, in, want string
	}{
		{"public line", lpub.String(), ""},
		{"public file", "untrusted comment: minisign public key X\n" + string(pubFile) + "\n", ""},
		{"public with spaces", "  " + lpub.String() + " \n", ""},
		{"secret given", string(skText), "SECRET key"},
		{"garbage", "RWQ-not-base64", "not a minisign public key"},
		{"age key", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "not a minisign public key"},
		{"empty", "", "no minisign public key"},
		{"two lines", lpub.String() + "\n" + lpub.String(), "more than one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := minisig.ParsePublicKey(tc.in)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), skLine[10:40], "the error quotes the key")
		})
	}

	keys, err := minisig.ParsePublicKeys(lpub.String() + " , " + lpub.String())
	require.NoError(t, err)
	assert.Len(t, keys, 1, "a repeated key is one key")
	_, err = minisig.ParsePublicKeys(lpub.String() + ",nope")
	assert.ErrorContains(t, err, "key 2 of 2 is not a minisign public key")

	sk, err := minisig.ParseSecretKey([]byte(skLine))
	require.NoError(t, err, "the bare line")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.NotContains(t, fmt.Sprintf(verb, sk), skLine[60:80], verb)
		assert.Contains(t, fmt.Sprintf(verb, sk), "redacted", verb)
	}
	_, err = minisig.ParseSecretKey(pubFile)
	assert.ErrorContains(t, err, "PUBLIC key")
	broken := []byte(skLine)
	broken[100] ^= 0x01 // in the secret scalar: the public half no longer matches
	_, err = minisig.ParseSecretKey(broken)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), skLine[60:80])
}

func TestComment(t *testing.T) {
	for _, key := range []string{"backups/b1/b1.tar.gz", "a b%c\n\xffé", "x"} {
		c := minisig.Comment{Key: key, Size: 42, Time: at}
		got, err := minisig.ParseComment(c.String())
		require.NoError(t, err, c.String())
		assert.Equal(t, c, got)
		assert.NotContains(t, c.String(), "\n")
	}
	for _, bad := range []string{
		"", "s3csi-v1", "s3csi-v2 key=a size=1 time=2026-12-06T21:30:00Z",
		"s3csi-v1 size=1 key=a time=2026-12-06T21:30:00Z",
		"s3csi-v1 key=a size=01 time=2026-12-06T21:30:00Z",
		"s3csi-v1 key=a size=-1 time=2026-12-06T21:30:00Z",
		"s3csi-v1 key=a size=1 time=2026-12-06T22:30:00+01:00",
		"s3csi-v1 key=a%2 size=1 time=2026-12-06T21:30:00Z",
		"s3csi-v1 key=a%2f size=1 time=2026-12-06T21:30:00Z",
		"s3csi-v1 key=%41 size=1 time=2026-12-06T21:30:00Z",
		"s3csi-v1 key= size=1 time=2026-12-06T21:30:00Z",
		"s3csi-v1 key=a size=1 time=2026-12-06T21:30:00Z ",
		"s3csi-v1  key=a size=1 time=2026-12-06T21:30:00Z",
	} {
		_, err := minisig.ParseComment(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// BenchmarkDigest is the cost of a signature per byte: BLAKE2b-512 of the
// stream, in the 512 KiB chunks a download reads ahead.
func BenchmarkDigest(b *testing.B) {
	buf := make([]byte, 512<<10)
	b.SetBytes(int64(len(buf)))
	d := minisig.NewDigest()
	for b.Loop() {
		_, _ = d.Write(buf)
	}
}
