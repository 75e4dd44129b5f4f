package undelete

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Refusals: the plan is not made, and nothing is changed.
var (
	// ErrNoVersions: nothing at all is stored under the backup's folder.
	ErrNoVersions = errors.New("no versions")
	// ErrVersionsGone: a key has delete markers and no version behind them.
	ErrVersionsGone = errors.New("the object's versions are gone")
	// ErrNoMetadata: velero-backup.json would not be there after undelete,
	// so Velero's backup sync would not see the backup.
	ErrNoMetadata = errors.New("velero-backup.json would be missing")
	// ErrNoLatest: the server did not mark exactly one entry of a key as
	// its latest, so which one is current cannot be told.
	ErrNoLatest = errors.New("no single latest version")
)

// metadataFile is the object Velero's backup sync reads to list a backup.
const metadataFile = "velero-backup.json"

// Version is one entry of a ListObjectVersions answer: an object version
// or a delete marker.
type Version struct {
	Key          string
	VersionID    string
	IsLatest     bool
	DeleteMarker bool
	Size         int64 // 0 for a delete marker
	LastModified time.Time
}

// Action removes one delete marker; Restores is the version that is the
// key's latest again once all of the key's actions are done.
type Action struct {
	Key      string
	MarkerID string
	Restores Version
}

// Plan is what undelete does: Actions in order (velero-backup.json's
// last, so Velero's sync never sees a half-restored backup).
type Plan struct {
	Actions  []Action
	Restored int // keys that come back
	Present  int // keys that are present already
}

// Target names the backup's folder in the bucket.
type Target struct {
	Bucket string
	Prefix string // the BSL's prefix, "" for none
	Backup string
}

// Dir is the backup's folder, "P/backups/NAME/" as Velero's
// ObjectStoreLayout makes it.
func (t Target) Dir() string {
	return path.Join(t.Prefix, "backups", t.Backup) + "/"
}

// URL is s3://bucket/key.
func (t Target) URL(key string) string { return "s3://" + t.Bucket + "/" + key }

// MakePlan decides from the listed versions and delete markers under
// t.Dir() which delete markers to remove. It is pure: it reads nothing
// and changes nothing. A key whose latest entry is a delete marker is
// restored by removing its markers that are not older than its newest
// real version (a marker in the same second is removed too: removing an
// older marker changes nothing a reader sees, keeping a newer one would).
// It refuses, with an error naming every key concerned, when a key has
// only delete markers, when the server did not mark exactly one entry of
// a key as latest, when velero-backup.json would be missing, or when
// nothing is listed at all. A plan with no actions means nothing to do.
func MakePlan(t Target, versions []Version) (Plan, error) {
	if len(versions) == 0 {
		return Plan{}, fmt.Errorf("%w of backup %s under %s", ErrNoVersions, t.Backup, t.URL(t.Dir()))
	}
	byKey := map[string][]Version{}
	for _, v := range versions {
		byKey[v.Key] = append(byKey[v.Key], v)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var plan Plan
	var gone, noLatest []string
	var metadata []Action
	metadataKey := t.Dir() + metadataFile
	for _, key := range keys {
		latest, newest, markers, nLatest := classify(byKey[key])
		switch {
		case newest == nil:
			gone = append(gone, t.URL(key))
			continue
		case nLatest != 1:
			noLatest = append(noLatest, t.URL(key))
			continue
		case !latest.DeleteMarker:
			plan.Present++
			continue
		}
		var acts []Action
		for _, m := range markers {
			if !m.LastModified.Before(newest.LastModified) || m.VersionID == latest.VersionID {
				acts = append(acts, Action{Key: key, MarkerID: m.VersionID, Restores: *newest})
			}
		}
		plan.Restored++
		if key == metadataKey {
			metadata = acts
		} else {
			plan.Actions = append(plan.Actions, acts...)
		}
	}
	switch {
	case len(gone) > 0:
		return Plan{}, fmt.Errorf("%w: only delete markers are left of %s", ErrVersionsGone, list(gone))
	case len(noLatest) > 0:
		return Plan{}, fmt.Errorf("%w: the server marked none or several entries as latest of %s", ErrNoLatest, list(noLatest))
	}
	if _, ok := byKey[metadataKey]; !ok {
		return Plan{}, fmt.Errorf("%w: %s has no version, so Velero would not see backup %s", ErrNoMetadata, t.URL(metadataKey), t.Backup)
	}
	plan.Actions = append(plan.Actions, metadata...)
	return plan, nil
}

// classify returns a key's entry marked latest, its newest real version
// (the first listed of equal times, as S3 lists newest first), its delete
// markers, and how many entries are marked latest.
func classify(vs []Version) (latest, newest *Version, markers []Version, nLatest int) {
	for i := range vs {
		v := &vs[i]
		if v.IsLatest {
			latest = v
			nLatest++
		}
		if v.DeleteMarker {
			markers = append(markers, *v)
		} else if newest == nil || v.LastModified.After(newest.LastModified) {
			newest = v
		}
	}
	return latest, newest, markers, nLatest
}

// list joins at most 10 names, saying how many more there are.
func list(names []string) string {
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}
