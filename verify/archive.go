package verify

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	// Its inflate ran 1.5 to 4 times the standard library's on this
	// machine (48 MiB, loaded); a tarball's read is bound by it.
	"github.com/klauspost/compress/gzip"
)

// Velero's backup tarball (pkg/archive, pkg/backup/item_backupper.go):
// one gzip stream of a tar whose items are
//
//	resources/<group-resource>/namespaces/<ns>/<name>.json
//	resources/<group-resource>/cluster/<name>.json
//
// each also under a version folder between the resource and the scope
// (<version>-preferredversion for the preferred version, <version> for
// others), and metadata/version. The resource list
// (<name>-resource-list.json.gz) names each item by its apiVersion/Kind
// and namespace/name, {"v1/Pod": ["ns1/pod1"]}: an item's file holds its
// apiVersion and kind, so the two meet without the cluster's discovery.

// maxItem bounds an item's JSON: etcd keeps objects under 1.5 MiB.
const maxItem = 16 << 20

// archive is what a tarball holds.
type archive struct {
	entries int
	// items: "apiVersion/Kind" → "namespace/name" (or "name") → the
	// first entry that holds it.
	items map[string]map[string]string
	bad   []string // entries that are not what Velero writes
}

func (a *archive) count() (items, kinds int) {
	for _, names := range a.items {
		items += len(names)
	}
	return items, len(a.items)
}

// errTruncated is a tarball whose gzip or tar stream ends early.
var errTruncated = errors.New("truncated")

// readArchive reads r as one whole gzip stream of a valid tar, nothing
// after it, and gathers its items.
func readArchive(r io.Reader) (*archive, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, gzipError("is not gzip", err)
	}
	gz.Multistream(false)
	a := &archive{items: map[string]map[string]string{}}
	tr := tar.NewReader(gz)
	last := "its start"
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return a, gzipError(fmt.Sprintf("is not a whole tar: after %s (%d entries)", last, a.entries), err)
		}
		a.entries++
		last = hdr.Name
		if hdr.Typeflag == tar.TypeReg {
			if err := a.add(hdr, tr); err != nil {
				return a, gzipError(fmt.Sprintf("is not a whole tar: in %s", hdr.Name), err)
			}
		}
	}
	// The tar's end is not the stream's: gzip checks its CRC and length
	// at its own end, and nothing may follow.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return a, gzipError("is not one whole gzip stream: after the tar", err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		if err != nil {
			return a, err
		}
		return a, errors.New("has data after its gzip stream: Velero writes one")
	}
	return a, nil
}

// gzipError names what a read error means for a tarball.
func gzipError(where string, err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: the stream ends early: %w", where, errTruncated)
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%s: the gzip checksum does not match: the object was altered", where)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// add reads a regular entry; one under resources/ is an item.
func (a *archive) add(hdr *tar.Header, r io.Reader) error {
	ns, name, isItem, why := itemPath(hdr.Name)
	if !isItem {
		if why != "" {
			a.bad = append(a.bad, hdr.Name+": "+why)
		}
		return nil
	}
	if hdr.Size > maxItem {
		a.bad = append(a.bad, fmt.Sprintf("%s: %d bytes, larger than a Kubernetes object", hdr.Name, hdr.Size))
		return nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	switch err := json.Unmarshal(data, &obj); {
	case err != nil:
		a.bad = append(a.bad, hdr.Name+": not JSON")
		return nil
	case obj.APIVersion == "" || obj.Kind == "":
		a.bad = append(a.bad, hdr.Name+": no apiVersion or kind")
		return nil
	case obj.Metadata.Name != name || obj.Metadata.Namespace != ns:
		a.bad = append(a.bad, fmt.Sprintf("%s: holds %s", hdr.Name, entryName(obj.Metadata.Namespace, obj.Metadata.Name)))
		return nil
	}
	key := obj.APIVersion + "/" + obj.Kind
	if a.items[key] == nil {
		a.items[key] = map[string]string{}
	}
	if _, seen := a.items[key][entryName(ns, name)]; !seen {
		a.items[key][entryName(ns, name)] = hdr.Name
	}
	return nil
}

func entryName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// itemPath parses an entry's name: an item's namespace ("" for cluster
// scope) and name; why says what is wrong with a resources/ entry that
// is not an item's.
func itemPath(entry string) (ns, name string, isItem bool, why string) {
	parts := strings.Split(strings.TrimPrefix(entry, "./"), "/")
	if parts[0] != "resources" {
		return "", "", false, ""
	}
	rest := parts[1:]
	if len(rest) > 1 && rest[1] != "namespaces" && rest[1] != "cluster" {
		rest = append(rest[:1:1], rest[2:]...) // a version folder
	}
	file := rest[len(rest)-1]
	switch {
	case !strings.HasSuffix(file, ".json") || file == ".json":
		return "", "", false, "not an item's file"
	case len(rest) == 3 && rest[1] == "cluster":
		return "", strings.TrimSuffix(file, ".json"), true, ""
	case len(rest) == 4 && rest[1] == "namespaces":
		return rest[2], strings.TrimSuffix(file, ".json"), true, ""
	}
	return "", "", false, "not resources/<resource>/[<version>/]namespaces/<ns>/<name>.json or .../cluster/<name>.json"
}

// readResourceList decodes a <name>-resource-list.json.gz body.
func readResourceList(gzipped []byte) (map[string][]string, error) {
	gz, err := gzip.NewReader(strings.NewReader(string(gzipped)))
	if err != nil {
		return nil, gzipError("is not gzip", err)
	}
	data, err := io.ReadAll(gz)
	if err != nil {
		return nil, gzipError("is not a whole gzip stream", err)
	}
	var list map[string][]string
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("is not Velero's {\"<apiVersion>/<Kind>\": [\"<namespace>/<name>\", …]}: %v", err)
	}
	return list, nil
}

// compareItems holds a tarball's items to the resource list: missing
// are listed items the tarball lacks, extra tarball items not listed.
func compareItems(a *archive, list map[string][]string) (missing, extra []string, listed int) {
	names := map[string]bool{}
	for _, key := range sortedKeys(list) {
		for _, n := range list[key] {
			listed++
			names[key+" "+n] = true
			if _, ok := a.items[key][n]; !ok {
				missing = append(missing, key+" "+n)
			}
		}
	}
	for _, key := range sortedKeys(a.items) {
		for _, n := range sortedKeys(a.items[key]) {
			if !names[key+" "+n] {
				extra = append(extra, key+" "+n)
			}
		}
	}
	return missing, extra, listed
}

// some names up to n of list, and how many more.
func some(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:n], ", "), len(list)-n)
}
