package snapshotter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"example.io/velero-plugin-s3csi/internal/finding"
)

// topologyLines are doctor's lines on topology: whether the driver takes
// accessibility requirements, its topology keys (from NodeGetInfo when
// the endpoint serves the node service; a relay forwards no node call)
// and, with GET_CAPACITY, whether each topologyMap target has capacity.
func (k *checks) topologyLines(ctx context.Context, r finding.Reporter) {
	c := k.c
	name := fmt.Sprintf("topology of CSI driver %s (GetPluginCapabilities, NodeGetInfo)", c.Driver)
	if !k.topology {
		check(r, name, func() (string, error) {
			return "none: the driver does not advertise VOLUME_ACCESSIBILITY_CONSTRAINTS, so restored volumes go where it puts them " +
				"and restored PVs keep their node affinity (moved by topologyMap when set)", nil
		})
		return
	}
	keys := "not told (the endpoint serves no NodeGetInfo)"
	cctx, cancel := context.WithTimeout(ctx, c.OperationTimeout)
	resp, err := k.cl.NodeGetInfo(cctx, &csi.NodeGetInfoRequest{})
	cancel()
	seg := resp.GetAccessibleTopology().GetSegments()
	if err == nil && len(seg) > 0 {
		keys = strings.Join(slices.Sorted(maps.Keys(seg)), ", ") + " (this node: " + segmentsText([]map[string]string{seg}) + ")"
	}
	zone := "a zone named only under " + inTreeZoneKeys[0] + " moves under "
	switch {
	case c.TopologyZoneKey != "":
		zone += c.TopologyZoneKey + " (topologyZoneKey)"
	case driverZoneKey(seg) != "":
		zone += driverZoneKey(seg) + " (NodeGetInfo)"
	default:
		zone += "the driver's zone key once a restored volume or a backed-up PV shows it (set topologyZoneKey to say it beforehand)"
	}
	check(r, name, func() (string, error) {
		return "VOLUME_ACCESSIBILITY_CONSTRAINTS: restored volumes are asked for their PV's topology; keys " + keys + "; " + zone, nil
	})
	if len(c.TopologyMap) == 0 {
		return
	}
	if !k.caps[csi.ControllerServiceCapability_RPC_GET_CAPACITY] {
		r.Note("topologyMap targets", "not checked: the driver has no GET_CAPACITY; --create-test-volume creates a volume in each target")
		return
	}
	for _, t := range mapTargets(c.TopologyMap) {
		check(r, "topologyMap target "+t.text()+" has capacity (GetCapacity)", func() (string, error) {
			cctx, cancel := context.WithTimeout(ctx, c.OperationTimeout)
			defer cancel()
			resp, err := k.cl.GetCapacity(cctx, &csi.GetCapacityRequest{Parameters: c.RestoreParameters,
				AccessibleTopology: &csi.Topology{Segments: map[string]string{t.key: t.to}}})
			switch {
			case err != nil:
				return "", finding.Fail("", fmt.Errorf("get capacity: %w (topologyMap %s)", err, t.pair()), "correct topologyMap: the driver cannot say it has room in %s", t.to)
			case resp.GetAvailableCapacity() == 0:
				return "", finding.Fail("", fmt.Errorf("the driver reports no capacity there (topologyMap %s)", t.pair()), "correct topologyMap or free capacity in %s", t.to)
			}
			return fmt.Sprintf("%d bytes available", resp.GetAvailableCapacity()), nil
		})
	}
}

// mapTarget is one topologyMap pair.
type mapTarget struct{ key, from, to string }

func (t mapTarget) text() string { return t.key + "=" + t.to }
func (t mapTarget) pair() string { return t.key + ": " + t.from + "=" + t.to }

// mapTargets lists the map's pairs, one per distinct target, sorted.
func mapTargets(m map[string]map[string]string) []mapTarget {
	var out []mapTarget
	seen := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		for _, from := range slices.Sorted(maps.Keys(m[k])) {
			t := mapTarget{k, from, m[k][from]}
			if !seen[t.text()] {
				seen[t.text()] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// testTargets creates and deletes a volume of size in each topologyMap
// target: the driver accepts the zone or says why not.
func (k *checks) testTargets(ctx context.Context, size int64, r finding.Reporter) {
	ss := k.s.cur
	if !k.topology || len(k.c.TopologyMap) == 0 {
		return
	}
	for _, t := range mapTargets(k.c.TopologyMap) {
		check(r, "create a volume in topologyMap target "+t.text(), func() (string, error) {
			cctx, cancel := context.WithTimeout(ctx, ss.retriesTimeout())
			defer cancel()
			nonce := make([]byte, 4)
			_, _ = rand.Read(nonce)
			name := "velero-doctor-" + hex.EncodeToString(nonce)
			caps, _ := volumeInfo{FSType: "ext4"}.capabilities() // RWO ext4: cannot fail
			top := []*csi.Topology{{Segments: map[string]string{t.key: t.to}}}
			req := &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapabilities: caps,
				Parameters: k.c.RestoreParameters, Secrets: k.creds, AccessibilityRequirements: &csi.TopologyRequirement{Requisite: top, Preferred: top}}
			create := byName(ss, "create volume "+name+" in "+t.text(), func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
				return ss.csi.CreateVolume(ctx, req)
			})
			resp, err := create(cctx)
			if err != nil {
				err = ss.cleanupVolume(ctx, k.s.log, create, err, name)
				return "", finding.Fail("", fmt.Errorf("%w (topologyMap %s)", err, t.pair()), "correct topologyMap: restores mapped there would fail the same way")
			}
			id := resp.GetVolume().GetVolumeId()
			if err := ss.deleteVolumeWithin(context.WithoutCancel(ctx), id); err != nil {
				return "", finding.Fail("", fmt.Errorf("volume %s made, delete failed: %w", id, err), "delete volume %s by hand", id)
			}
			return fmt.Sprintf("volume %s in %s, deleted", id, segmentsText(topologySegments(resp.GetVolume().GetAccessibleTopology()))), nil
		})
	}
}
