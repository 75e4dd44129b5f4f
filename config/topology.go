package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TopologyMap moves restored volumes to other topology segments: for a
// topology key (topology.gke.io/zone), the value a backed-up PV had and
// the value its restored volume gets.
//
// Its text form, the topologyMap key, is one clause per topology key,
// clauses separated by ";" or new lines, pairs by ",":
//
//	topology.gke.io/zone: us-central1-a=us-east1-b, us-central1-c=us-east1-c; topology.kubernetes.io/region: us-central1=us-east1
type TopologyMap map[string]map[string]string

// Lookup returns what value of key becomes on restore, and whether a
// mapping names it.
func (m TopologyMap) Lookup(key, value string) (string, bool) {
	to, ok := m[key][value]
	return to, ok
}

// String is the map in its key's syntax, sorted: the settings line shows it.
func (m TopologyMap) String() string {
	var clauses []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var pairs []string
		for _, from := range slices.Sorted(maps.Keys(m[k])) {
			pairs = append(pairs, from+"="+m[k][from])
		}
		clauses = append(clauses, k+": "+strings.Join(pairs, ", "))
	}
	return strings.Join(clauses, "; ")
}

// ParseTopologyMap reads the topologyMap syntax. Keys must be label keys
// and values label values (they become the PV's node affinity); a value
// mapped twice under one key is refused.
func ParseTopologyMap(v string) (TopologyMap, error) {
	m := TopologyMap{}
	for clause := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ';' || r == '\n' }) {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		key, pairs, ok := strings.Cut(clause, ":")
		key = strings.TrimSpace(key)
		if !ok || strings.TrimSpace(pairs) == "" {
			return nil, fmt.Errorf("has %q, which is not KEY: FROM=TO, FROM=TO (for example topology.gke.io/zone: us-central1-a=us-east1-b)", clause)
		}
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, fmt.Errorf("has topology key %q, which is not a label key: %s", key, errs[0])
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("names topology key %s twice: put all its pairs in one clause", key)
		}
		m[key] = map[string]string{}
		for pair := range strings.SplitSeq(pairs, ",") {
			from, to, ok := strings.Cut(pair, "=")
			from, to = strings.TrimSpace(from), strings.TrimSpace(to)
			if !ok || from == "" || to == "" {
				return nil, fmt.Errorf("has %q under %s, which is not FROM=TO", strings.TrimSpace(pair), key)
			}
			for _, val := range []string{from, to} {
				if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
					return nil, fmt.Errorf("has %q under %s, which is not a label value: %s", val, key, errs[0])
				}
			}
			if prev, dup := m[key][from]; dup {
				return nil, fmt.Errorf("maps %s twice under %s (to %s and to %s)", from, key, prev, to)
			}
			m[key][from] = to
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("maps nothing (write KEY: FROM=TO, FROM=TO, or leave the key out)")
	}
	return m, nil
}
