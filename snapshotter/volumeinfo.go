package snapshotter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
)

// volumeTypePrefix marks (and versions) the volumeType strings this plugin
// writes: Velero stores the string in the backup and hands it back to
// CreateVolumeFromSnapshot, so it carries what a restore needs.
const volumeTypePrefix = "example.io/csi/v1:"

// volumeInfo is what a restore needs of the backed-up PV.
type volumeInfo struct {
	Capacity    int64    `json:"capacity"`
	VolumeMode  string   `json:"volumeMode,omitempty"`
	FSType      string   `json:"fsType,omitempty"`
	AccessModes []string `json:"accessModes,omitempty"`
	MountFlags  []string `json:"mountFlags,omitempty"`
	// Topology is the PV's node affinity as CSI topology segments (any
	// one of them will do); none in backups made before it was kept,
	// which restore where the driver likes, as they did.
	Topology []map[string]string `json:"topology,omitempty"`
}

func infoFromPV(pv *corev1.PersistentVolume) volumeInfo {
	vi := volumeInfo{FSType: pv.Spec.CSI.FSType, MountFlags: pv.Spec.MountOptions, Topology: segmentsFromPV(pv)}
	if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
		vi.Capacity = q.Value()
	}
	if pv.Spec.VolumeMode != nil {
		vi.VolumeMode = string(*pv.Spec.VolumeMode)
	}
	for _, m := range pv.Spec.AccessModes {
		vi.AccessModes = append(vi.AccessModes, string(m))
	}
	return vi
}

func (vi volumeInfo) encode() string {
	b, _ := json.Marshal(vi) // plain fields: cannot fail
	return volumeTypePrefix + string(b)
}

func decodeVolumeType(s string) (volumeInfo, error) {
	var vi volumeInfo
	if !strings.HasPrefix(s, volumeTypePrefix) {
		return vi, fmt.Errorf("volume type %q was not written by this plugin (want prefix %q)", s, volumeTypePrefix)
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(s, volumeTypePrefix)), &vi); err != nil {
		return vi, fmt.Errorf("volume type %q: %w", s, err)
	}
	return vi, nil
}

// capabilities turns the PV's access modes and volume mode into CSI's.
func (vi volumeInfo) capabilities() ([]*csi.VolumeCapability, error) {
	modes := vi.AccessModes
	if len(modes) == 0 {
		modes = []string{string(corev1.ReadWriteOnce)}
	}
	var out []*csi.VolumeCapability
	for _, m := range modes {
		var mode csi.VolumeCapability_AccessMode_Mode
		switch corev1.PersistentVolumeAccessMode(m) {
		case corev1.ReadWriteOnce:
			mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
		case corev1.ReadOnlyMany:
			mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
		case corev1.ReadWriteMany:
			mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
		case corev1.ReadWriteOncePod:
			mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
		default:
			return nil, fmt.Errorf("access mode %q has no CSI equivalent", m)
		}
		c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
		if vi.VolumeMode == string(corev1.PersistentVolumeBlock) {
			c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
		} else {
			c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: vi.FSType, MountFlags: vi.MountFlags}}
		}
		out = append(out, c)
	}
	return out, nil
}

// snapshotName is the CSI name of the snapshot of one PV in one backup:
// the same on every retry, so a retried CreateSnapshot finds the snapshot
// it already made, and short enough for any driver (GCE allows 63).
func snapshotName(backup, pv, volumeID string) string {
	return "velero-" + hash(backup, pv, volumeID)[:32]
}

// volumeName is the name of a restored volume: unique to one
// CreateVolumeFromSnapshot call (nonce), the same across that call's
// retries, so restoring one backup twice gives two volumes.
func volumeName(snapshotID, nonce string) string {
	return "velero-restore-" + hash(snapshotID, nonce)[:32]
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
