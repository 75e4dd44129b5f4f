package agestream_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os/exec"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// The standard age CLI (Debian's), no code of ours, is the oracle both
// ways: it opens what EncryptReader writes with either identity and
// refuses a third, and Decrypt opens what `age -e` writes, on sizes
// around the 64 KiB chunk edges.
func TestAgeCLI(t *testing.T) {
	ageBin := testenv.Tool(t, "age")
	k1, k2, other := testenv.NewAgeKey(t), testenv.NewAgeKey(t), testenv.NewAgeKey(t)
	var recipients []age.Recipient
	for _, k := range []testenv.AgeKey{k1, k2} {
		r, err := age.ParseX25519Recipient(k.Recipient)
		require.NoError(t, err)
		recipients = append(recipients, r)
	}
	id1, err := age.ParseX25519Identity(k1.Identity)
	require.NoError(t, err)
	run := func(stdin []byte, args ...string) ([]byte, error) {
		var out, stderr bytes.Buffer
		cmd := exec.Command(ageBin, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("age %v: %w: %s", args, err, stderr.String())
		}
		return out.Bytes(), nil
	}
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			plain := make([]byte, size)
			_, _ = rand.Read(plain)

			sealed := seal(t, plain, recipients)
			for _, k := range []testenv.AgeKey{k1, k2} {
				got, err := run(sealed, "-d", "-i", k.File)
				require.NoError(t, err, "age -d -i %s", k.Recipient)
				assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(got), "age -d with %s", k.Recipient)
			}
			_, err := run(sealed, "-d", "-i", other.File)
			assert.Error(t, err, "a third identity opens nothing")

			byCLI, err := run(plain, "-e", "-r", k1.Recipient)
			require.NoError(t, err)
			got, isSealed, err := openAll(t, byCLI, []age.Identity{id1})
			require.NoError(t, err, "Decrypt of age -e's file")
			assert.True(t, isSealed)
			assert.Equal(t, sha256.Sum256(plain), sha256.Sum256(got), "Decrypt of age -e's file")
		})
	}
}
