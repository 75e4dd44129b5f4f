package conformance

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// snapshotterName is the plugin's VolumeSnapshotter.
const snapshotterName = "example.io/csi"

// volumeSnapshotter makes the calls of a backup (GetVolumeID,
// GetVolumeInfo, CreateSnapshot), a restore (Init, CreateVolumeFromSnapshot,
// SetVolumeID) and a backup deletion (DeleteSnapshot), each phase with a
// new client as Velero gets one, against the real CSI driver. It returns
// the snapshot's ID for the orchestrator to check with the driver that
// the deletion happened.
func volumeSnapshotter(h Host, cfg Config, logs *JSONLines) (c Cell, snapID string) {
	vsl := map[string]string{"driver": cfg.CSIDriver, "endpoint": cfg.CSIEndpoint, "pollInterval": "200ms"}
	get := func(phase string) VolumeSnapshotter {
		vs, err := h.VolumeSnapshotter(snapshotterName)
		if err != nil {
			c.fail("%s: get VolumeSnapshotter %s: %v", phase, snapshotterName, err)
			return nil
		}
		if err := vs.Init(vsl); err != nil {
			c.fail("%s: Init: %v", phase, err)
			return nil
		}
		return vs
	}

	// Backup (Velero's item_backupper).
	vs := get("backup")
	if vs == nil {
		return c, ""
	}
	// The host's --features reached the plugin (v1.14 passes it as
	// "--features EnableCSI", later releases as the server's own flag).
	if !logs.find(line("warning", "Velero runs with --features=EnableCSI", nil)) {
		c.fail("no EnableCSI warning from the plugin in the host's log: the host's --features did not reach the plugin")
	}
	src := pv("pv-data", cfg.CSIDriver, cfg.VolumeID)
	id, err := vs.GetVolumeID(src)
	if err != nil || id != cfg.VolumeID {
		c.fail("GetVolumeID = %q, %v; want %q", id, err, cfg.VolumeID)
		return c, ""
	}
	if other, err := vs.GetVolumeID(pv("pv-other", "other.csi.example.io", "h1")); err != nil || other != "" {
		c.fail("GetVolumeID of another driver's PV = %q, %v; want \"\" (not ours)", other, err)
	}
	volumeType, iops, err := vs.GetVolumeInfo(id, "zone-a")
	if err != nil || iops != nil || !strings.HasPrefix(volumeType, "example.io/csi/v1:") {
		c.fail("GetVolumeInfo = %q, %v, %v; want example.io/csi/v1:..., nil", volumeType, iops, err)
		return c, ""
	}
	backup := fmt.Sprintf("compat-%d", time.Now().UnixNano())
	tags := map[string]string{"velero.io/backup": backup, "velero.io/pv": "pv-data", "velero.io/storage-location": "default"}
	snapID, err = vs.CreateSnapshot(id, "zone-a", tags)
	if err != nil || snapID == "" {
		c.fail("CreateSnapshot = %q, %v", snapID, err)
		return c, ""
	}
	if again, err := vs.CreateSnapshot(id, "zone-a", tags); err != nil || again != snapID {
		c.fail("CreateSnapshot again = %q, %v; want the same snapshot %q", again, err, snapID)
	}

	// Restore (Velero's pv_restorer).
	if vs = get("restore"); vs == nil {
		return c, snapID
	}
	newID, err := vs.CreateVolumeFromSnapshot(snapID, volumeType, "zone-a", nil)
	if err != nil || newID == "" || newID == cfg.VolumeID {
		c.fail("CreateVolumeFromSnapshot = %q, %v; want a new volume", newID, err)
	} else {
		if !logs.find(line("info", "volume restored from CSI snapshot", map[string]string{"volumeID": newID, "driverContentSource": snapID})) {
			c.fail("no line from the plugin that the driver made volume %s from snapshot %s", newID, snapID)
		}
		out, err := vs.SetVolumeID(src, newID)
		if err != nil {
			c.fail("SetVolumeID: %v", err)
		} else {
			handle, _, _ := unstructured.NestedString(out.UnstructuredContent(), "spec", "csi", "volumeHandle")
			driver, _, _ := unstructured.NestedString(out.UnstructuredContent(), "spec", "csi", "driver")
			name, _, _ := unstructured.NestedString(out.UnstructuredContent(), "metadata", "name")
			if handle != newID || driver != cfg.CSIDriver || name != "pv-data" {
				c.fail("SetVolumeID gave PV %s on %s/%s; want pv-data on %s/%s", name, driver, handle, cfg.CSIDriver, newID)
			}
		}
	}

	// Backup deletion, idempotent.
	if vs = get("delete"); vs == nil {
		return c, snapID
	}
	if err := vs.DeleteSnapshot(snapID); err != nil {
		c.fail("DeleteSnapshot %s: %v", snapID, err)
	}
	if err := vs.DeleteSnapshot(snapID); err != nil {
		c.fail("DeleteSnapshot of a deleted snapshot %s: %v (deletes are idempotent)", snapID, err)
	}
	return c, snapID
}

// pv is a bound CSI PV of 20Gi on driver's volume handle, as a CSI
// provisioner makes one and Velero hands it to the plugin.
func pv(name, driver, handle string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "PersistentVolume",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"capacity":    map[string]any{"storage": "20Gi"},
			"accessModes": []any{"ReadWriteOnce"},
			"volumeMode":  "Filesystem",
			"csi": map[string]any{
				"driver": driver, "volumeHandle": handle, "fsType": "ext4",
				"volumeAttributes": map[string]any{"storage.kubernetes.io/csiProvisionerIdentity": "x"},
			},
			"claimRef": map[string]any{"kind": "PersistentVolumeClaim", "namespace": "demo", "name": "data"},
		},
	}}
}
