package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

func TestMain(m *testing.M) {
	testenv.NoAmbientKubernetes()
	os.Exit(m.Run())
}

// run runs the built binary's verify with args: stdout, stderr, exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := filepath.Join(testenv.PluginDir(t), "velero-plugin-s3csi")
	cmd := exec.Command(bin, append([]string{"verify"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run verify: %v", err)
	}
	return out.String(), errb.String(), code
}

// location is a BSL on srv: its manifest file, config and a store for
// writing backups as Velero's server does.
type location struct {
	srv      *testenv.S3Server
	bucket   string
	prefix   string
	config   map[string]string
	manifest string
	creds    string
	store    *objectstore.Store
}

func newLocation(t *testing.T, srv *testenv.S3Server, bucket, prefix string, config map[string]string) *location {
	t.Helper()
	config["s3Url"] = srv.Endpoint
	l := &location{srv: srv, bucket: bucket, prefix: prefix, config: config, creds: srv.CredentialsFile(t)}
	m := map[string]any{
		"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
		"metadata": map[string]any{"name": "default", "namespace": "velero"},
		"spec": map[string]any{
			"provider":      "example.io/s3compat",
			"objectStorage": map[string]any{"bucket": bucket, "prefix": prefix},
			"config":        config,
		},
	}
	data, err := yaml.Marshal(m)
	require.NoError(t, err)
	l.manifest = filepath.Join(t.TempDir(), "bsl.yaml")
	require.NoError(t, os.WriteFile(l.manifest, data, 0o600))
	cfg := map[string]string{"bucket": bucket, "prefix": prefix, "credentialsFile": l.creds}
	for k, v := range config {
		cfg[k] = v
	}
	l.store = objectstore.New(testenv.NewLogCapture(logrus.WarnLevel).Logger, kube.New())
	require.NoError(t, l.store.Init(cfg))
	return l
}

func (l *location) key(backup, base string) string {
	return filepath.Join(l.prefix, "backups", backup, base)
}

// verify runs verify on the location with args.
func (l *location) verify(t *testing.T, args ...string) (string, string, int) {
	return run(t, append([]string{"--bsl", l.manifest, "--credentials-file", l.creds}, args...)...)
}

// stored is what the server holds of key, read with its own client.
func (l *location) stored(t *testing.T, key string) []byte {
	t.Helper()
	o, err := l.srv.Client().GetObject(context.Background(), l.bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer o.Close()
	data, err := io.ReadAll(o)
	require.NoError(t, err)
	return data
}

// putRaw writes body at key with the server's own client, around the plugin.
func (l *location) putRaw(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := l.srv.Client().PutObject(context.Background(), l.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	require.NoError(t, err)
}

// sizeOf is the stored size of a backup's objects, as verify adds them.
func (l *location) sizeOf(t *testing.T, backup string) int64 {
	var n int64
	for o := range l.srv.Client().ListObjects(context.Background(), l.bucket, minio.ListObjectsOptions{Prefix: l.key(backup, "") + "/", Recursive: true}) {
		require.NoError(t, o.Err)
		n += o.Size
	}
	return n
}

// backupLines are the lines of backup name's section of a text report:
// its ✓/✗/- lines (a fix joined to its line) and its last line.
func backupLines(out, name string) []string {
	var ls []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "backup "+name:
			in = true
		case !in:
		case strings.HasPrefix(l, "      fix: ") && len(ls) > 0:
			ls[len(ls)-1] += "\n" + strings.TrimSpace(l)
		case strings.HasPrefix(l, "  "):
			ls = append(ls, strings.TrimPrefix(l, "  "))
		default:
			return append(ls, l)
		}
	}
	return ls
}

func TestVerify(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	l := newLocation(t, srv, srv.MakeBucket(t), "cluster-a", map[string]string{"region": "minio", "s3ForcePathStyle": "true"})

	good := writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-good"})
	tarSize := len(good["b-good.tar.gz"])

	cut := writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-cut"})
	half := cut["b-cut.tar.gz"][:len(cut["b-cut.tar.gz"])/2]
	l.putRaw(t, l.key("b-cut", "b-cut.tar.gz"), half)

	writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-missing"})
	require.NoError(t, srv.Client().RemoveObject(context.Background(), l.bucket, l.key("b-missing", "b-missing-resource-list.json.gz"), minio.RemoveObjectOptions{}))
	require.NoError(t, srv.Client().RemoveObject(context.Background(), l.bucket, l.key("b-missing", "b-missing-logs.gz"), minio.RemoveObjectOptions{}))

	// A tarball holding a pod its resource list does not name, as a
	// swapped tarball would; and a list naming a pod the tarball lacks.
	forged := append(append([]item{}, defaultItems...), item{"v1", "Pod", "pods", "ns1", "intruder"})
	writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-extra", items: forged, listed: defaultItems})
	listed := append(append([]item{}, defaultItems...), item{"v1", "ConfigMap", "configmaps", "ns1", "settings"})
	writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-lacks", listed: listed})

	writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-running", phase: "InProgress"})
	writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-failed", phase: "Failed"})
	other := backupObjects(t, backupSpec{name: "b-good"})["velero-backup.json"]
	writeBackup(t, l.store, l.bucket, l.prefix, backupSpec{name: "b-moved"})
	l.putRaw(t, l.key("b-moved", "velero-backup.json"), other)

	out, stderr, code := l.verify(t)
	t.Logf("verify:\n%s\n%s", out, stderr)
	assert.Equal(t, 1, code, "a backup failed")
	assert.Equal(t, []string{
		"✓ velero-backup.json: Backup b-good, phase Completed, expires 2027-01-05T10:00:00Z",
		fmt.Sprintf("✓ objects of a completed backup: 9 of 9 present, %d bytes in all", l.sizeOf(t, "b-good")),
		fmt.Sprintf("✓ tarball b-good.tar.gz: one whole gzip stream of a valid tar: 9 entries, 4 items (%d bytes stored)", tarSize),
		"✓ items against b-good-resource-list.json.gz: 4 items of 4 kinds, each listed and each in the tarball (the list names 4)",
		"backup b-good: all 4 checks passed",
	}, backupLines(out, "b-good"))
	assert.Equal(t, []string{
		"✓ velero-backup.json: Backup b-cut, phase Completed, expires 2027-01-05T10:00:00Z",
		fmt.Sprintf("✓ objects of a completed backup: 9 of 9 present, %d bytes in all", l.sizeOf(t, "b-cut")),
		fmt.Sprintf("✗ tarball b-cut.tar.gz: is not a whole tar: after resources/namespaces/cluster/ns1.json (2 entries): the stream ends early: truncated (%d bytes stored)", len(half)) +
			"\nfix: the object is cut short: Velero cannot restore it; restore from another backup",
		"- items against b-cut-resource-list.json.gz: not compared: the tarball is not whole",
		"backup b-cut: 1 of 3 checks failed",
	}, backupLines(out, "b-cut"))
	assert.Equal(t, []string{
		"✓ velero-backup.json: Backup b-missing, phase Completed, expires 2027-01-05T10:00:00Z",
		"✗ objects of a completed backup: missing b-missing-logs.gz, b-missing-resource-list.json.gz (7 of 9 whole)" +
			"\nfix: Velero writes each of them for every backup it completes: this backup is incomplete; take a new one, and find what removed or cut them",
		"✓ tarball b-missing.tar.gz: " + strings.SplitN(backupLines(out, "b-good")[2], ": ", 2)[1],
		"- items against b-missing-resource-list.json.gz: not compared: it is not there",
		"backup b-missing: 1 of 3 checks failed",
	}, backupLines(out, "b-missing"))
	assert.Equal(t, []string{
		"✓ velero-backup.json: Backup b-extra, phase Completed, expires 2027-01-05T10:00:00Z",
		fmt.Sprintf("✓ objects of a completed backup: 9 of 9 present, %d bytes in all", l.sizeOf(t, "b-extra")),
		fmt.Sprintf("✓ tarball b-extra.tar.gz: one whole gzip stream of a valid tar: 11 entries, 5 items (%d bytes stored)", len(tarball(t, forged))),
		"✗ items against b-extra-resource-list.json.gz: the tarball holds 1 items the resource list does not name: v1/Pod ns1/intruder" +
			"\nfix: a restore would create them: the tarball is not the one this backup wrote; restore from another backup",
		"backup b-extra: 1 of 4 checks failed",
	}, backupLines(out, "b-extra"))
	assert.Equal(t, "✗ items against b-lacks-resource-list.json.gz: 1 listed items are not in the tarball: v1/ConfigMap ns1/settings"+
		"\nfix: a restore would lack them: restore from another backup", backupLines(out, "b-lacks")[3])
	assert.Equal(t, []string{
		"✓ velero-backup.json: Backup b-running, phase InProgress, expires 2027-01-05T10:00:00Z",
		"- later checks: skipped: Velero is still writing this backup (phase InProgress)",
		"backup b-running: not finished (phase InProgress), not verified",
	}, backupLines(out, "b-running"))
	assert.Equal(t, []string{
		"✗ velero-backup.json: Backup b-failed, phase Failed, expires 2027-01-05T10:00:00Z: Velero restores only Completed and PartiallyFailed backups",
		"- later checks: skipped: they need a completed backup's velero-backup.json",
		"backup b-failed: 1 of 1 checks failed",
	}, backupLines(out, "b-failed"))
	assert.Equal(t, []string{
		`✗ velero-backup.json: names backup "b-good", not "b-moved"` +
			"\nfix: it was copied from another backup's folder: restore from another backup",
		"- later checks: skipped: they need a completed backup's velero-backup.json",
		"backup b-moved: 1 of 1 checks failed",
	}, backupLines(out, "b-moved"))
	assert.Contains(t, out, "BackupStorageLocation velero/default: 8 backups, 1 passed, 6 failed, 1 not finished\n")
	assert.Contains(t, stderr, "verify: read cluster-a/backups/b-good/b-good.tar.gz: ")
	assert.Contains(t, stderr, " MB/s\n")

	t.Run("one backup", func(t *testing.T) {
		out, stderr, code := l.verify(t, "--backup", "b-good")
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Equal(t, "backup b-good: all 4 checks passed", backupLines(out, "b-good")[4])
		assert.NotContains(t, out, "b-cut")
		_, _, code = l.verify(t, "--backup", "b-cut")
		assert.Equal(t, 1, code)
	})
	t.Run("quick", func(t *testing.T) {
		out, stderr, code := l.verify(t, "--backup", "b-cut", "--quick")
		assert.Equal(t, 0, code, "a cut tarball is seen only by reading it: %s\n%s", out, stderr)
		assert.Equal(t, "- contents: not read (--quick)", backupLines(out, "b-cut")[2])
		assert.NotContains(t, stderr, "verify: read ", "nothing long was read")
		_, _, code = l.verify(t, "--backup", "b-missing", "--quick")
		assert.Equal(t, 1, code)
	})
	t.Run("json", func(t *testing.T) {
		out, _, code := l.verify(t, "--output", "json")
		assert.Equal(t, 1, code)
		var res struct {
			OK        bool `json:"ok"`
			Locations []struct {
				Location string `json:"location"`
				Bucket   string `json:"bucket"`
				OK       bool   `json:"ok"`
				Backups  []struct {
					Backup     string `json:"backup"`
					OK         bool   `json:"ok"`
					Unfinished bool   `json:"unfinished"`
					Checks     []struct{ Check, Result, Error, Fix string }
				} `json:"backups"`
			} `json:"locations"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.False(t, res.OK)
		require.Len(t, res.Locations, 1)
		assert.Equal(t, "BackupStorageLocation velero/default", res.Locations[0].Location)
		assert.Equal(t, l.bucket, res.Locations[0].Bucket)
		ok := map[string]bool{}
		for _, b := range res.Locations[0].Backups {
			ok[b.Backup] = b.OK
		}
		assert.Equal(t, map[string]bool{"b-good": true, "b-cut": false, "b-missing": false, "b-extra": false, "b-lacks": false,
			"b-running": false, "b-failed": false, "b-moved": false}, ok)
		for _, b := range res.Locations[0].Backups {
			if b.Backup == "b-cut" {
				assert.Equal(t, "fail", b.Checks[2].Result)
				assert.Contains(t, b.Checks[2].Error, "truncated")
				assert.Equal(t, "the object is cut short: Velero cannot restore it; restore from another backup", b.Checks[2].Fix)
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		_, stderr, code := run(t, "--bsl", l.manifest, "--all")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "name one location: --bsl FILE or --bsl-name NAME; or --all")
	})
}

func TestVerifyEncrypted(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	key, other := testenv.NewAgeKey(t), testenv.NewAgeKey(t)
	bucket := srv.MakeBucket(t)
	writer := newLocation(t, srv, bucket, "", map[string]string{"encryptionRecipients": key.Recipient})
	objs := writeBackup(t, writer.store, bucket, "", backupSpec{name: "b-enc"})
	writeBackup(t, writer.store, bucket, "", backupSpec{name: "b-flip"})
	flipped := writer.stored(t, "backups/b-flip/b-flip.tar.gz")
	flipped[len(flipped)-20] ^= 1
	writer.putRaw(t, "backups/b-flip/b-flip.tar.gz", flipped)
	stored := len(writer.stored(t, "backups/b-enc/b-enc.tar.gz"))
	plain := len(objs["b-enc.tar.gz"])

	t.Run("with identity", func(t *testing.T) {
		l := newLocation(t, srv, bucket, "", map[string]string{"encryptionRecipients": key.Recipient, "encryptionIdentityFile": key.File})
		out, stderr, code := l.verify(t)
		assert.Equal(t, 1, code, "b-flip fails: %s\n%s", out, stderr)
		assert.Equal(t, []string{
			"✓ velero-backup.json: Backup b-enc, phase Completed, expires 2027-01-05T10:00:00Z",
			fmt.Sprintf("✓ objects of a completed backup: 9 of 9 present, %d bytes in all", l.sizeOf(t, "b-enc")),
			fmt.Sprintf("✓ age encryption of b-enc.tar.gz: age header with 1 X25519 recipient stanzas; opened by the identity of %s… (one of the BSL's encryptionRecipients); every chunk authenticated (%d bytes of plaintext)",
				key.Recipient[:12], plain),
			fmt.Sprintf("✓ tarball b-enc.tar.gz: one whole gzip stream of a valid tar: 9 entries, 4 items (%d bytes stored)", stored),
			"✓ items against b-enc-resource-list.json.gz: 4 items of 4 kinds, each listed and each in the tarball (the list names 4)",
			"backup b-enc: all 5 checks passed",
		}, backupLines(out, "b-enc"))
		flip := backupLines(out, "b-flip")
		require.Len(t, flip, 6, out)
		assert.Contains(t, flip[2], "✗ age encryption of b-flip.tar.gz: age decryption failed: a chunk after 0 bytes of plaintext")
		assert.Contains(t, flip[2], "fails its authentication: the object is truncated or was altered")
		assert.Contains(t, flip[2], "\nfix: the object is truncated or was altered: restore from another backup")
		assert.Equal(t, "- tarball b-flip.tar.gz: not judged: its decryption failed", flip[3])
		assert.Equal(t, "backup b-flip: 1 of 3 checks failed", flip[5])
		assert.NotContains(t, out+stderr, key.Identity)
	})
	t.Run("without identity", func(t *testing.T) {
		l := newLocation(t, srv, bucket, "", map[string]string{"encryptionRecipients": key.Recipient})
		out, stderr, code := l.verify(t, "--backup", "b-enc")
		assert.Equal(t, 0, code, "what can be read passes: %s\n%s", out, stderr)
		assert.Equal(t, []string{
			"✓ velero-backup.json: Backup b-enc, phase Completed, expires 2027-01-05T10:00:00Z",
			fmt.Sprintf("✓ objects of a completed backup: 9 of 9 present, %d bytes in all", l.sizeOf(t, "b-enc")),
			"✓ age encryption of b-enc.tar.gz: age header with 1 X25519 recipient stanzas; X25519 stanzas do not name their recipient, and the payload is not read: the BSL gives no identity",
			"- tarball b-enc.tar.gz: not read: it is encrypted, and the BSL gives no age identity (encryptionIdentitySecret or encryptionIdentityFile)",
			"- items against b-enc-resource-list.json.gz: not compared: the tarball was not read",
			"backup b-enc: all 3 checks passed",
		}, backupLines(out, "b-enc"))
	})
	t.Run("another identity", func(t *testing.T) {
		l := newLocation(t, srv, bucket, "", map[string]string{"encryptionRecipients": other.Recipient, "encryptionIdentityFile": other.File})
		out, _, code := l.verify(t, "--backup", "b-enc")
		assert.Equal(t, 1, code)
		assert.Equal(t, "✗ age encryption of b-enc.tar.gz: age header with 1 X25519 recipient stanzas; none of the 1 identities of encryptionIdentityFile "+other.File+" opens it"+
			"\nfix: give the identity of a public key the backup was written with (age-keygen -y shows an identity's public key)", backupLines(out, "b-enc")[2])
	})
}

func TestVerifyObjectLock(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	bucket := srv.MakeLockedBucket(t, "", 0)
	l := newLocation(t, srv, bucket, "velero", map[string]string{"objectLockMode": "GOVERNANCE", "objectLockRetention": "48h"})
	day := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	writeBackup(t, l.store, bucket, "velero", backupSpec{name: "b-locked", expires: day})
	writeBackup(t, l.store, bucket, "velero", backupSpec{name: "b-short", expires: day.Add(48 * time.Hour)})
	logs := writeBackup(t, l.store, bucket, "velero", backupSpec{name: "b-unlocked", expires: day})["b-unlocked-logs.gz"]
	l.putRaw(t, l.key("b-unlocked", "b-unlocked-logs.gz"), logs) // a new version, around the plugin: no retention

	first := func(backup string) time.Time {
		var min time.Time
		for o := range srv.Client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: l.key(backup, "") + "/", Recursive: true}) {
			require.NoError(t, o.Err)
			_, until, err := srv.Client().GetObjectRetention(context.Background(), bucket, o.Key, "")
			require.NoError(t, err)
			if min.IsZero() || until.Before(min) {
				min = *until
			}
		}
		return min.UTC()
	}
	out, stderr, code := l.verify(t)
	assert.Equal(t, 1, code, "%s\n%s", out, stderr)
	assert.Equal(t, fmt.Sprintf("✓ Object Lock GOVERNANCE: 9 objects retained in GOVERNANCE until at least %s; the backup expires %s",
		first("b-locked").Format(time.RFC3339), day.Format(time.RFC3339)), backupLines(out, "b-locked")[4])
	short := backupLines(out, "b-short")[4]
	assert.True(t, strings.HasPrefix(short, "✗ Object Lock GOVERNANCE: b-short-itemoperations.json.gz is retained until "), short)
	assert.Contains(t, short, fmt.Sprintf(", before the backup expires; velero-backup.json is retained until %s, before the backup expires (the backup expires %s)",
		mustRetention(t, srv, bucket, l.key("b-short", "velero-backup.json")).Format(time.RFC3339), day.Add(48*time.Hour).Format(time.RFC3339)))
	assert.Contains(t, short, "\nfix: objectLockRetention must be at least the backups' TTL (velero backup create --ttl, default 720h)")
	assert.Equal(t, "✗ Object Lock GOVERNANCE: b-unlocked-logs.gz is not retained (the backup expires "+day.Format(time.RFC3339)+")"+
		"\nfix: objectLockRetention must be at least the backups' TTL (velero backup create --ttl, default 720h); objects written before objectLockMode was set are not locked; "+
		"an identity without s3:GetObjectRetention sees no retention in a HEAD",
		backupLines(out, "b-unlocked")[4])
	assert.Contains(t, out, "BackupStorageLocation velero/default: 3 backups, 1 passed, 2 failed\n")

	out, _, code = l.verify(t, "--backup", "b-locked", "--quick")
	assert.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(backupLines(out, "b-locked")[3], "✓ Object Lock GOVERNANCE: 9 objects retained"), out)
}

func mustRetention(t *testing.T, srv *testenv.S3Server, bucket, key string) time.Time {
	_, until, err := srv.Client().GetObjectRetention(context.Background(), bucket, key, "")
	require.NoError(t, err)
	return until.UTC()
}
