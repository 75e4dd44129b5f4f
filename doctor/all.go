package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
	"example.io/velero-plugin-s3csi/snapshotter"
)

// allResult is the JSON document of --all.
type allResult struct {
	Namespace string    `json:"namespace"`
	OK        bool      `json:"ok"`
	Locations []summary `json:"locations"`
	// Skipped are the namespace's locations of other providers.
	Skipped []string `json:"skipped,omitempty"`
}

// kinds are what --all reads, in the order it checks them.
var kinds = []struct{ kind, resource string }{
	{"BackupStorageLocation", "backupstoragelocations"},
	{"VolumeSnapshotLocation", "volumesnapshotlocations"},
}

// all checks every location of this plugin's providers in o.namespace,
// BSLs then VSLs, each by name, and says which of other providers it
// passed over. A location doctor cannot read (a Secret it names is not
// there) is a failed line of its own, and the others are still checked.
func all(ctx context.Context, o *options, k *kube.Client, dir string, log *logrus.Logger, stdout, stderr io.Writer) int {
	text := o.output == "text"
	res := allResult{Namespace: o.namespace, OK: true, Locations: []summary{}}
	for _, kd := range kinds {
		lctx, cancel := context.WithTimeout(ctx, 2*kube.Timeout)
		items, err := k.VeleroObjects(lctx, o.namespace, kd.resource)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "velero-plugin-s3csi doctor: list %ss in namespace %s: %v\n", kd.kind, o.namespace, err)
			return exitUsage
		}
		for _, item := range items {
			m, err := parseManifest(item, kd.kind)
			if err != nil {
				fmt.Fprintf(stderr, "velero-plugin-s3csi doctor: a %s in namespace %s: %v\n", kd.kind, o.namespace, err)
				return exitUsage
			}
			if m.Spec.Provider != objectstore.Name && m.Spec.Provider != snapshotter.Name {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s %s/%s (provider %s)", kd.kind, m.Metadata.Namespace, m.Metadata.Name, m.Spec.Provider))
				continue
			}
			if text && len(res.Locations) > 0 {
				fmt.Fprintln(stdout)
			}
			loc, err := build(ctx, m, "", dir, k)
			var r *report
			if err != nil {
				r = newReport(stdout, text, false)
				header(stdout, text, loc)
				r.Check("read the location", func() (string, error) { return "", err })
			} else {
				r = diagnose(ctx, o, k, loc, log, stdout)
			}
			if text {
				if err := r.finish(stdout, loc.String()); err != nil {
					fmt.Fprintln(stderr, "velero-plugin-s3csi doctor:", err)
					return exitUsage
				}
			}
			res.Locations = append(res.Locations, r.summary(loc))
			res.OK = res.OK && r.passed()
		}
	}
	if len(res.Locations) == 0 {
		fmt.Fprintf(stderr, "velero-plugin-s3csi doctor: no BackupStorageLocation or VolumeSnapshotLocation of provider %s or %s in namespace %s%s\n",
			objectstore.Name, snapshotter.Name, o.namespace, skippedText(res.Skipped))
		return exitUsage
	}
	if err := finishAll(stdout, text, res); err != nil {
		fmt.Fprintln(stderr, "velero-plugin-s3csi doctor:", err)
		return exitUsage
	}
	if !res.OK {
		return exitFailed
	}
	return exitOK
}

func finishAll(w io.Writer, text bool, res allResult) error {
	if !text {
		return writeJSON(w, res)
	}
	failed := 0
	for _, l := range res.Locations {
		if !l.OK {
			failed++
		}
	}
	_, err := fmt.Fprintf(w, "\n%d locations checked in namespace %s: %d passed, %d failed%s\n",
		len(res.Locations), res.Namespace, len(res.Locations)-failed, failed, skippedText(res.Skipped))
	return err
}

func skippedText(skipped []string) string {
	if len(skipped) == 0 {
		return ""
	}
	return "; not this plugin's, so not checked: " + strings.Join(skipped, ", ")
}
