package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Fields lists the effective object-store settings and their origins for
// the one Info line at Init; secrets show as <redacted>. Each key's value
// is its Show in objectStoreKeys; the lines below add what no one key
// says: the keys that were read at Init, and why a default was chosen.
func (o *ObjectStore) Fields() logrus.Fields {
	f := logrus.Fields(objectStoreKeys.fields(o, o.Origin))
	if len(o.CustomerKey) > 0 { // prints <redacted>
		from := "customerKeyEncryptionFile"
		if _, ok := o.Origin["customerKeyEncryptionSecret"]; ok {
			from = "customerKeyEncryptionSecret"
		}
		f["sseCustomerKey"] = fmt.Sprintf("%v (%s in %s)", o.CustomerKey, from, o.Origin[from])
	}
	if _, set := o.Origin["checksumAlgorithm"]; !set && o.ObjectLockMode != "" {
		f["checksumAlgorithm"] = o.ChecksumAlgorithm + " (default: objectLockMode needs one)"
	}
	o.identityField(f)
	o.signingKeyField(f)
	return f
}

// showExternalID shows the start of an external id: enough to tell which
// one is set, not the whole of what the trust policy is matched against.
func showExternalID(id string) string {
	switch {
	case id == "":
		return "none"
	case len(id) <= 8:
		return id[:2] + "… (" + fmt.Sprint(len(id)) + " characters)"
	}
	return id[:4] + "… (" + fmt.Sprint(len(id)) + " characters)"
}

// showRetention prints a retention as a duration and, when whole, in days.
func showRetention(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == 0:
		return "none"
	case d%day == 0:
		return fmt.Sprintf("%s = %d days", d, d/day)
	}
	return d.String()
}

// ShowSize prints a byte size in the largest binary unit that divides it
// (48MiB, 5GiB), else in bytes.
func ShowSize(n int64) string {
	for _, u := range []struct {
		shift int
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// Fields lists the effective snapshotter settings, each key's Show in
// snapshotterKeys; CSI secrets are never shown, only whether a Secret is
// named.
func (s *Snapshotter) Fields() logrus.Fields {
	return logrus.Fields(snapshotterKeys.fields(s, s.Origin))
}

func orNone(v, none string) string {
	if v == "" {
		return none
	}
	return v
}

func mapKeys(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
