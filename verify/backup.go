package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/minisig"
	"example.io/velero-plugin-s3csi/objectstore"
)

// verifier verifies the backups of one opened location.
type verifier struct {
	s      store
	c      config.ObjectStore
	folder string // <prefix>/backups/
	quick  bool
	prog   *progress
	keys   minisig.Keys // the signers accepted; none: signatures are not checked
}

// backupDoc is what verify reads of velero-backup.json, Velero's Backup
// object as its server wrote it (encode.To in persistBackup).
type backupDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Phase      string     `json:"phase"`
		Expiration *time.Time `json:"expiration"`
	} `json:"status"`
}

// Velero's backup phases (pkg/apis/velero/v1/backup_types.go).
var (
	restorable = []string{"Completed", "PartiallyFailed"}
	unfinished = []string{"New", "Queued", "ReadyToStart", "InProgress", "WaitingForPluginOperations",
		"WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed"}
)

// maxMetadata bounds velero-backup.json and the resource list as read.
const maxMetadata = 64 << 20

// objectsOf are the keys Velero writes under backups/<name>/ for every
// backup it completes: PutBackup in pkg/persistence/object_store.go
// (Velero 1.13 and later, the releases this plugin serves, write each of
// them even when its list is empty), with their keys from
// object_store_layout.go.
func objectsOf(name string) []string {
	return []string{
		"velero-backup.json",
		name + ".tar.gz",
		name + "-logs.gz",
		name + "-resource-list.json.gz",
		name + "-results.gz",
		name + "-volumeinfo.json.gz",
		name + "-podvolumebackups.json.gz",
		name + "-volumesnapshots.json.gz",
		name + "-itemoperations.json.gz",
	}
}

// backup verifies one backup, a line per check.
func (v *verifier) backup(ctx context.Context, name string, p *printer) (b backupResult) {
	b.Backup = name
	c := &checks{p: p, indent: "  "}
	p.printf("backup %s\n", name)
	defer func() {
		b.Checks, b.OK = c.lines, c.passed() && !b.Unfinished
		p.backupDone(&b, c)
	}()
	dir := v.folder + name + "/"
	doc, err := v.metadata(ctx, dir+"velero-backup.json")
	c.check("velero-backup.json", func() (string, error) { return describeDoc(doc, name, err) })
	if doc != nil {
		b.Phase = doc.Status.Phase
	}
	if doc != nil && slices.Contains(unfinished, doc.Status.Phase) {
		b.Unfinished = true
		c.note("later checks", "skipped: Velero is still writing this backup (phase "+doc.Status.Phase+")")
		return b
	}
	if err != nil || !slices.Contains(restorable, doc.Status.Phase) || doc.Metadata.Name != name {
		c.note("later checks", "skipped: they need a completed backup's velero-backup.json")
		return b
	}
	present, sigs, ok := v.objects(ctx, c, dir, name)
	if !ok && len(present) == 0 {
		return b
	}
	var tarDigest *minisig.Digest
	var tarErr error
	if v.quick {
		c.note("contents", "not read (--quick)")
	} else {
		tarDigest, tarErr = v.contents(ctx, c, dir, name, doc, present)
	}
	v.signatures(ctx, c, dir, name, present, sigs, tarDigest, tarErr)
	if v.c.ObjectLockMode != "" {
		c.check("Object Lock "+v.c.ObjectLockMode, func() (string, error) { return v.lock(doc, present) })
	}
	return b
}

// metadata reads and decodes velero-backup.json.
func (v *verifier) metadata(ctx context.Context, key string) (*backupDoc, error) {
	// A HEAD first: a missing object is said as such, not as the
	// missing signature a store that requires them would report.
	if _, err := v.s.Stat(ctx, v.c.Bucket, key); err != nil {
		return nil, err
	}
	data, err := v.readSmall(key)
	if err != nil {
		return nil, err
	}
	var doc backupDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, finding.Fail("", fmt.Errorf("is not JSON: %v", err), "it is not what Velero wrote: restore from another backup")
	}
	return &doc, nil
}

// describeDoc judges velero-backup.json of backup name.
func describeDoc(doc *backupDoc, name string, err error) (string, error) {
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		return "", finding.Fail("", errors.New("not there"),
			"Velero writes it with every backup and lists backups by it: without it this folder is not a backup Velero restores")
	case err != nil:
		return "", err
	case doc.APIVersion != "velero.io/v1" || doc.Kind != "Backup":
		return "", fmt.Errorf("is a %s %s, not a velero.io/v1 Backup", doc.APIVersion, doc.Kind)
	case doc.Metadata.Name != name:
		return "", finding.Fail("", fmt.Errorf("names backup %q, not %q", doc.Metadata.Name, name),
			"it was copied from another backup's folder: restore from another backup")
	}
	seen := fmt.Sprintf("Backup %s, phase %s", name, doc.Status.Phase)
	if doc.Status.Expiration != nil {
		seen += ", expires " + doc.Status.Expiration.UTC().Format(time.RFC3339)
	}
	switch phase := doc.Status.Phase; {
	case slices.Contains(restorable, phase), slices.Contains(unfinished, phase):
		return seen, nil
	case phase == "":
		return "", errors.New("has no status.phase")
	default:
		return "", fmt.Errorf("%s: Velero restores only Completed and PartiallyFailed backups", seen)
	}
}

// readSmall reads a small object as Velero does (decrypted), whole.
func (v *verifier) readSmall(key string) ([]byte, error) {
	rc, err := v.s.GetObject(v.c.Bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxMetadata {
		return nil, fmt.Errorf("%s is larger than %d MiB", key, maxMetadata>>20)
	}
	return data, nil
}

// objects checks that every object Velero writes for a completed backup
// is there and not empty; it returns what each present object's HEAD
// said, by base name.
func (v *verifier) objects(ctx context.Context, c *checks, dir, name string) (map[string]objectstore.ObjectInfo, map[string]bool, bool) {
	present, sigs := map[string]objectstore.ObjectInfo{}, map[string]bool{}
	ok := c.check("objects of a completed backup", func() (string, error) {
		keys, err := v.s.ListObjects(v.c.Bucket, dir)
		if err != nil {
			return "", err
		}
		var total int64
		for _, k := range keys {
			if signed, ok := strings.CutSuffix(path.Base(k), sigSuffix); ok {
				sigs[signed] = true // listed by a store that does not hide signatures
				continue
			}
			info, err := v.s.Stat(ctx, v.c.Bucket, k)
			if errors.Is(err, objectstore.ErrNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				return "", err
			}
			present[path.Base(k)], total = info, total+info.Size
		}
		var missing, empty []string
		want := objectsOf(name)
		for _, base := range want {
			info, there := present[base]
			switch {
			case !there:
				missing = append(missing, base)
			case info.Size == 0:
				empty = append(empty, base)
			}
		}
		if len(missing)+len(empty) > 0 {
			var what []string
			if len(missing) > 0 {
				what = append(what, "missing "+strings.Join(missing, ", "))
			}
			if len(empty) > 0 {
				what = append(what, "empty "+strings.Join(empty, ", "))
			}
			return "", finding.Fail("", fmt.Errorf("%s (%d of %d whole)", strings.Join(what, "; "), len(want)-len(missing)-len(empty), len(want)),
				"Velero writes each of them for every backup it completes: this backup is incomplete; take a new one, and find what removed or cut them")
		}
		return fmt.Sprintf("%d of %d present, %s in all", len(want), len(want), size(total)), nil
	})
	// The store hides signatures from listings (Velero must not see
	// them): each is looked for by its name; without a key to check
	// them, only the tarball's, to say whether the backup is signed.
	for base := range present {
		if !sigs[base] && (len(v.keys) > 0 || base == name+".tar.gz") {
			if _, err := v.s.Stat(ctx, v.c.Bucket, dir+base+sigSuffix); err == nil {
				sigs[base] = true
			}
		}
	}
	return present, sigs, ok
}

// lock checks that every object's current version is retained, in the
// BSL's mode, until at least the backup's expiry.
func (v *verifier) lock(doc *backupDoc, present map[string]objectstore.ObjectInfo) (string, error) {
	mode := v.c.ObjectLockMode
	var bad []string
	var first time.Time
	for _, base := range sortedKeys(present) {
		info := present[base]
		switch {
		case info.LockMode == "" || info.RetainUntil.IsZero():
			bad = append(bad, base+" is not retained")
		case info.LockMode != mode:
			bad = append(bad, fmt.Sprintf("%s is retained in %s, not %s", base, info.LockMode, mode))
		case doc.Status.Expiration != nil && info.RetainUntil.Before(*doc.Status.Expiration):
			bad = append(bad, fmt.Sprintf("%s is retained until %s, before the backup expires", base, info.RetainUntil.Format(time.RFC3339)))
		}
		if first.IsZero() || (!info.RetainUntil.IsZero() && info.RetainUntil.Before(first)) {
			first = info.RetainUntil
		}
	}
	expires := "the backup has no expiry"
	if doc.Status.Expiration != nil {
		expires = "the backup expires " + doc.Status.Expiration.UTC().Format(time.RFC3339)
	}
	if len(bad) > 0 {
		return "", finding.Fail("", fmt.Errorf("%s (%s)", strings.Join(bad, "; "), expires),
			"objectLockRetention must be at least the backups' TTL (velero backup create --ttl, default 720h); objects written before objectLockMode was set are not locked; "+
				"an identity without s3:GetObjectRetention sees no retention in a HEAD")
	}
	return fmt.Sprintf("%d objects retained in %s until at least %s; %s", len(present), mode, first.Format(time.RFC3339), expires), nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
