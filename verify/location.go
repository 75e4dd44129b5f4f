package verify

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/doctor"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// store is what verify reads a location through: the plugin's own
// ObjectStore, with its read-only views. Nothing here writes.
type store interface {
	Init(cfg map[string]string) error
	Settings() config.ObjectStore
	ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error)
	ListObjects(bucket, prefix string) ([]string, error)
	GetObject(bucket, key string) (io.ReadCloser, error)
	GetStored(ctx context.Context, bucket, key string) (io.ReadCloser, error)
	Open(stored io.Reader) (io.Reader, bool, error)
	Stat(ctx context.Context, bucket, key string) (objectstore.ObjectInfo, error)
}

var _ store = (*objectstore.Store)(nil)

// verifyLocation opens loc with the plugin's Init and verifies its
// backups (o.backup only, when set), printing as it goes.
func verifyLocation(ctx context.Context, o *options, k *kube.Client, log logrus.FieldLogger, loc doctor.Location, p *printer, prog *progress) (lr locationResult) {
	lr = locationResult{Location: loc.Name, Backups: []backupResult{}}
	own := &checks{p: p}
	defer func() {
		lr.Checks = own.lines
		lr.OK = own.passed()
		for _, b := range lr.Backups {
			lr.OK = lr.OK && (b.OK || b.Unfinished)
		}
		p.locationDone(&lr)
	}()
	p.printf("verifying %s\n", loc.Name)
	if loc.Err != nil {
		own.fail("read the location", loc.Err)
		return lr
	}
	if loc.Provider != objectstore.Name {
		own.fail("provider", fmt.Errorf("%s names provider %q; verify reads BSLs of %s", loc.Name, loc.Provider, objectstore.Name))
		return lr
	}
	s := objectstore.New(log, k)
	// Init reads; with objectLockMode it checks the bucket's versioning
	// and Object Lock, which verify needs too. It compares no region: a
	// server that takes the region's signatures is right (see doctor).
	if err := s.Init(loc.Config); err != nil {
		own.fail("open the location (the plugin's Init)", finding.WithFix(err,
			"run `velero-plugin-s3csi doctor` on the same location: it names the check that fails and its fix"))
		return lr
	}
	c := s.Settings()
	lr.Bucket, lr.Prefix = c.Bucket, c.Prefix
	folder := backupsFolder(c.Prefix)
	names := []string{o.backup}
	if o.backup == "" {
		prefixes, err := s.ListCommonPrefixes(c.Bucket, folder, "/")
		if err != nil {
			own.fail("list the backups under "+folder, err)
			return lr
		}
		names = names[:0]
		for _, pf := range prefixes {
			names = append(names, path.Base(strings.TrimSuffix(pf, "/")))
		}
		slices.Sort(names)
		if len(names) == 0 {
			own.note("backups", fmt.Sprintf("none under %s of bucket %s", folder, c.Bucket))
		}
	}
	// The signers accepted: --public-key's, and the BSL's own (its
	// signing key's public half and verifyPublicKeys), as reads accept.
	keys := o.keys
	for _, k := range c.AcceptedKeys() {
		keys = keys.Add(k)
	}
	v := &verifier{s: s, c: c, folder: folder, quick: o.quick, prog: prog, keys: keys}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			own.fail("verify", fmt.Errorf("stopped: %w", err))
			return lr
		}
		lr.Backups = append(lr.Backups, v.backup(ctx, name, p))
	}
	return lr
}

// backupsFolder is Velero's backups/ folder under prefix
// (NewObjectStoreLayout in pkg/persistence/object_store_layout.go).
func backupsFolder(prefix string) string {
	return path.Join(prefix, "backups") + "/"
}
