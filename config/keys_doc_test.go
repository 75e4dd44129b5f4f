package config

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var updateDocs = flag.Bool("update", false, "rewrite the key tables of docs/ from the key declarations")

// refreshDocs is the command that regenerates the key tables.
const refreshDocs = "go generate ./config (or: go test ./config -run TestKeyDocs -update)"

// keyPage is a docs page with one provider's generated key table.
type keyPage struct {
	path, marker, kind string
	rows               []keyDoc
	accepts            func(key string) bool
}

var keyPages = []keyPage{
	{"../docs/backupstoragelocation.md", "objectstore", "BackupStorageLocation", objectStoreKeyDocs(),
		func(k string) bool { _, _, ok := objectStoreKeys.find(k); return ok }},
	{"../docs/volumesnapshotlocation.md", "snapshotter", "VolumeSnapshotLocation", snapshotterKeyDocs(),
		func(k string) bool { k2, _, ok := snapshotterKeys.find(k); return ok && !k2.Hidden }},
}

// section returns the text between the page's begin and end markers.
func (p keyPage) section(t *testing.T, doc []byte) (before, table, after []byte) {
	begin := []byte("<!-- keys:" + p.marker + " begin")
	end := []byte("<!-- keys:" + p.marker + " end -->")
	i, j := bytes.Index(doc, begin), bytes.Index(doc, end)
	require.True(t, i >= 0 && j > i, "%s has no %s ... %s pair around its key table", p.path, begin, end)
	i += bytes.IndexByte(doc[i:], '\n') + 1
	return doc[:i], doc[i:j], doc[j:]
}

// TestKeyDocs holds each docs page's key table to the key declarations:
// the generated table must be the page's, and, read back from the page,
// every key it lists must be accepted and every accepted key listed.
func TestKeyDocs(t *testing.T) {
	for _, p := range keyPages {
		t.Run(p.marker, func(t *testing.T) {
			doc, err := os.ReadFile(p.path)
			require.NoError(t, err)
			before, table, after := p.section(t, doc)
			want := keysMarkdown(p.rows)
			if *updateDocs {
				require.NoError(t, os.WriteFile(p.path, slices.Concat(before, []byte(want), after), 0o644))
				table = []byte(want)
			}
			assert.Equal(t, want, string(table), "the key table of %s is not the one the key declarations give: run %s", p.path, refreshDocs)

			documented := tableKeys(string(table))
			for _, k := range documented {
				assert.True(t, p.accepts(strings.ReplaceAll(k, "<name>", "x")), "%s documents key %q, which the parser refuses", p.path, k)
			}
			for _, r := range p.rows {
				assert.Contains(t, documented, r.Key, "%s does not document key %q, which the parser takes: run %s", p.path, r.Key, refreshDocs)
			}
		})
	}
}

// tableKeys are the first cells of a Markdown table's rows, unquoted.
func tableKeys(table string) []string {
	var keys []string
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || strings.TrimSpace(cells[1]) == "Key" {
			continue
		}
		keys = append(keys, strings.Trim(strings.TrimSpace(cells[1]), "`"))
	}
	return keys
}

// TestKeyDocsCellsAreShort keeps every cell of the tables to a sentence
// or two: the detail goes in the prose below them.
func TestKeyDocsCellsAreShort(t *testing.T) {
	for _, p := range keyPages {
		for _, r := range p.rows {
			for _, c := range []string{r.Where, r.Type, r.Default, r.Limits} {
				assert.LessOrEqual(t, utf8.RuneCountInString(c), 60, "%s: cell %q", r.Key, c)
			}
			assert.NotEmpty(t, r.Help, "%s has no help", r.Key)
			assert.LessOrEqual(t, utf8.RuneCountInString(r.Help), 120, "%s: help %q", r.Key, r.Help)
			assert.LessOrEqual(t, strings.Count(r.Help, ". "), 1, "%s: help of more than two sentences: %q", r.Key, r.Help)
		}
	}
}

// TestKeyDocsExamplesParse: every key of the page's YAML examples of its
// kind is one the parser takes.
func TestKeyDocsExamplesParse(t *testing.T) {
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	for _, p := range keyPages {
		doc, err := os.ReadFile(p.path)
		require.NoError(t, err)
		seen := 0
		for _, m := range block.FindAllSubmatch(doc, -1) {
			for _, part := range strings.Split(string(m[1]), "\n---\n") {
				var obj struct {
					Kind string
					Spec struct{ Config map[string]string }
				}
				if yaml.Unmarshal([]byte(part), &obj) != nil || obj.Kind != p.kind {
					continue
				}
				seen++
				for k := range obj.Spec.Config {
					assert.True(t, p.accepts(k), "%s: the example's key %q is refused", p.path, k)
				}
			}
		}
		assert.NotZero(t, seen, "%s has no %s example", p.path, p.kind)
	}
}

// TestConfigMapExamplesParse: the plugin ConfigMaps of
// docs/configuration.md parse as the ConfigMap layer of their provider.
func TestConfigMapExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	seen := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1) {
		for _, part := range strings.Split(string(m[1]), "\n---\n") {
			var cm struct {
				Kind     string
				Metadata struct{ Labels map[string]string }
				Data     map[string]string
			}
			if yaml.Unmarshal([]byte(part), &cm) != nil || cm.Kind != "ConfigMap" {
				continue
			}
			layer := Layer{Name: "docs/configuration.md", Values: cm.Data, TunablesOnly: true}
			switch {
			case cm.Metadata.Labels["example.io/s3compat"] == "ObjectStore":
				_, err = ParseObjectStore(Layer{Name: "BSL", Values: map[string]string{"bucket": "b"}}, layer)
			case cm.Metadata.Labels["example.io/csi"] == "VolumeSnapshotter":
				_, err = ParseSnapshotter(Layer{Name: "VSL", Values: map[string]string{"driver": "d"}}, layer)
			default:
				continue
			}
			seen++
			assert.NoError(t, err)
		}
	}
	assert.Equal(t, 2, seen, "docs/configuration.md shows one ConfigMap per provider")
}
