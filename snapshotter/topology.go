package snapshotter

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"

	"example.io/velero-plugin-s3csi/config"
)

// Topology on restore: the backed-up PV's node affinity, kept in its
// volume type as CSI topology segments, becomes the restored volume's
// accessibility_requirements (when the driver takes them), moved by
// topologyMap; the restored PV's node affinity is the new volume's
// accessible_topology when the driver returns one, else the old affinity
// moved by the same map. This is what external-provisioner does for a
// new volume, with the PV's old topology standing in for the node.

// Kubernetes' own zone and region keys: on every node, and the only
// topology of a PV migrated from an in-tree volume plugin, whatever
// driver serves it now.
var (
	inTreeZoneKeys   = []string{corev1.LabelTopologyZone, corev1.LabelFailureDomainBetaZone}
	inTreeRegionKeys = []string{corev1.LabelTopologyRegion, corev1.LabelFailureDomainBetaRegion}
)

// maxSegments bounds what a PV's affinity expands to (a term with several
// values per key is one segment per combination).
const maxSegments = 32

// segmentsFromPV turns the PV's required node-affinity terms into CSI
// topology segments: each term's "In" expressions, one segment per
// combination of their values. Other operators say nothing of where the
// volume is and are left out.
func segmentsFromPV(pv *corev1.PersistentVolume) []map[string]string {
	var out []map[string]string
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return nil
	}
	for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		segs := []map[string]string{{}}
		for _, e := range term.MatchExpressions {
			if e.Operator != corev1.NodeSelectorOpIn || len(e.Values) == 0 {
				continue
			}
			var next []map[string]string
			for _, s := range segs {
				for _, v := range e.Values {
					n := maps.Clone(s)
					n[e.Key] = v
					next = append(next, n)
				}
			}
			segs = next
		}
		for _, s := range segs {
			if len(s) > 0 && len(out) < maxSegments {
				out = append(out, s)
			}
		}
	}
	return out
}

// driverZoneKey is the key ending in /zone in a segment that is not one
// of Kubernetes' own: the driver's zone key (topology.gke.io/zone).
func driverZoneKey(seg map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(seg)) {
		if strings.HasSuffix(k, "/zone") && !slices.Contains(inTreeZoneKeys, k) {
			return k
		}
	}
	return ""
}

// inTreeZone is the zone of a segment that names it only under
// Kubernetes' own keys.
func inTreeZone(seg map[string]string) (string, bool) {
	if driverZoneKey(seg) != "" {
		return "", false
	}
	for _, k := range inTreeZoneKeys {
		if z, ok := seg[k]; ok {
			return z, true
		}
	}
	return "", false
}

// learnZoneKey remembers the driver's zone key from a segment the driver
// returned or a PV of the driver carried, with where it was seen.
func (s *Snapshotter) learnZoneKey(segs []map[string]string, where string) {
	for _, seg := range segs {
		if k := driverZoneKey(seg); k != "" {
			s.mu.Lock()
			if s.zoneKey == "" {
				s.zoneKey, s.zoneKeyFrom = k, where
			}
			s.mu.Unlock()
			return
		}
	}
}

// zoneKeyFor is the driver's zone key for a PV that names its zone only
// under Kubernetes' keys, and where it comes from: topologyZoneKey when
// set, else learned from what the driver returned (a restored volume's
// accessible_topology, its NodeGetInfo) or from its other PVs; "" when
// none says.
func (s *Snapshotter) zoneKeyFor(ctx context.Context, ss *session) (key, from string) {
	if ss.cfg.TopologyZoneKey != "" {
		return ss.cfg.TopologyZoneKey, "topologyZoneKey in " + ss.cfg.Origin["topologyZoneKey"]
	}
	s.mu.Lock()
	key, from = s.zoneKey, s.zoneKeyFrom
	s.mu.Unlock()
	if key != "" {
		return key, from
	}
	// A controller socket that also serves the node service says its keys.
	cctx, cancel := context.WithTimeout(ctx, ss.cfg.OperationTimeout)
	defer cancel()
	if resp, err := ss.csi.NodeGetInfo(cctx, &csi.NodeGetInfoRequest{}); err == nil {
		s.learnZoneKey([]map[string]string{resp.GetAccessibleTopology().GetSegments()}, "the driver's NodeGetInfo")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zoneKey, s.zoneKeyFrom
}

// placement is where a restored volume is asked to be.
type placement struct {
	segments []map[string]string
	moved    []string // the topologyMap pairs applied, key: from=to
	zoneKey  string   // the driver zone key an in-tree zone was moved under; "" none
	keyFrom  string
	unkeyed  []string // in-tree zones left out: the driver's zone key is not known
}

// place moves the backed-up segments under the driver's zone key when
// they name the zone only under Kubernetes' keys, then through the map.
// A segment that names its zone only under Kubernetes' keys while the
// driver's key is not known is left out (the restore goes where the
// driver likes, as before), and the caller says so.
func (s *Snapshotter) place(ctx context.Context, ss *session, segs []map[string]string) placement {
	var p placement
	for _, seg := range segs {
		seg = maps.Clone(seg)
		if z, ok := inTreeZone(seg); ok {
			if p.zoneKey == "" {
				p.zoneKey, p.keyFrom = s.zoneKeyFor(ctx, ss)
			}
			switch {
			case p.zoneKey == "":
				p.unkeyed = append(p.unkeyed, z)
				continue
			case !slices.Contains(inTreeZoneKeys, p.zoneKey):
				for _, k := range append(slices.Clone(inTreeZoneKeys), inTreeRegionKeys...) {
					delete(seg, k)
				}
				seg[p.zoneKey] = z
			}
		}
		p.segments = append(p.segments, mapSegment(seg, ss.cfg.TopologyMap, &p.moved))
	}
	return p
}

// mapSegment applies the map to each key of seg, noting what it moved.
func mapSegment(seg map[string]string, m config.TopologyMap, moved *[]string) map[string]string {
	for _, k := range slices.Sorted(maps.Keys(seg)) {
		if to, ok := m.Lookup(k, seg[k]); ok {
			note := fmt.Sprintf("%s: %s=%s", k, seg[k], to)
			if !slices.Contains(*moved, note) {
				*moved = append(*moved, note)
			}
			seg[k] = to
		}
	}
	return seg
}

// requirement is the CreateVolume accessibility_requirements of p: every
// segment requisite and, in the PV's order, preferred.
func (p placement) requirement() *csi.TopologyRequirement {
	if len(p.segments) == 0 {
		return nil
	}
	r := &csi.TopologyRequirement{}
	for _, seg := range p.segments {
		r.Requisite = append(r.Requisite, &csi.Topology{Segments: seg})
		r.Preferred = append(r.Preferred, &csi.Topology{Segments: seg})
	}
	return r
}

// nodeAffinity is the PV node affinity of the driver's accessible
// topology: one term per segment, each key "In" its value, keys sorted
// (external-provisioner's form).
func nodeAffinity(top []*csi.Topology) *corev1.VolumeNodeAffinity {
	sel := &corev1.NodeSelector{}
	for _, t := range top {
		seg := t.GetSegments()
		if len(seg) == 0 {
			continue
		}
		var term corev1.NodeSelectorTerm
		for _, k := range slices.Sorted(maps.Keys(seg)) {
			term.MatchExpressions = append(term.MatchExpressions, corev1.NodeSelectorRequirement{
				Key: k, Operator: corev1.NodeSelectorOpIn, Values: []string{seg[k]}})
		}
		sel.NodeSelectorTerms = append(sel.NodeSelectorTerms, term)
	}
	if len(sel.NodeSelectorTerms) == 0 {
		return nil
	}
	return &corev1.VolumeNodeAffinity{Required: sel}
}

// mapAffinity moves the values of the PV's own affinity through the map
// (a driver that returned no accessible_topology): a zone under
// Kubernetes' keys moves as the driver's zone key says when the map
// names only that.
func mapAffinity(a *corev1.VolumeNodeAffinity, m config.TopologyMap, zoneKey string) *corev1.VolumeNodeAffinity {
	if a == nil || a.Required == nil || len(m) == 0 {
		return a
	}
	a = a.DeepCopy()
	for i := range a.Required.NodeSelectorTerms {
		for j := range a.Required.NodeSelectorTerms[i].MatchExpressions {
			e := &a.Required.NodeSelectorTerms[i].MatchExpressions[j]
			for n, v := range e.Values {
				to, ok := m.Lookup(e.Key, v)
				if !ok && zoneKey != "" && slices.Contains(inTreeZoneKeys, e.Key) {
					to, ok = m.Lookup(zoneKey, v)
				}
				if ok {
					e.Values[n] = to
				}
			}
		}
	}
	return a
}

// segmentsText prints segments for an error or a log line.
func segmentsText(segs []map[string]string) string {
	var out []string
	for _, seg := range segs {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(seg)) {
			kv = append(kv, k+"="+seg[k])
		}
		out = append(out, "{"+strings.Join(kv, ", ")+"}")
	}
	return strings.Join(out, " or ")
}

// topologySegments is the driver's topology as segments.
func topologySegments(top []*csi.Topology) []map[string]string {
	var out []map[string]string
	for _, t := range top {
		if len(t.GetSegments()) > 0 {
			out = append(out, t.GetSegments())
		}
	}
	return out
}
