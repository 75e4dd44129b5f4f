package conformance

import (
	"path/filepath"
	"slices"
)

// pluginBinary is the name of the built plugin in the plugin folder.
const pluginBinary = "velero-plugin-s3csi"

// lister checks what the host's registry learnt from the binary's
// PluginLister: the two plugins, each under its own kind, run from the
// binary in the plugin folder, and nothing else; and that the host finds
// a plugin under its kind only.
func lister(h Host, cfg Config) (c Cell) {
	want := []Plugin{
		{Command: filepath.Join(cfg.PluginDir, pluginBinary), Kind: "ObjectStore", Name: objectStoreName},
		{Command: filepath.Join(cfg.PluginDir, pluginBinary), Kind: "VolumeSnapshotter", Name: snapshotterName},
	}
	var got []Plugin
	for _, p := range h.Plugins() {
		if filepath.Base(p.Command) == pluginBinary {
			got = append(got, p)
		}
	}
	slices.SortFunc(got, func(a, b Plugin) int {
		if a.Kind < b.Kind {
			return -1
		}
		if a.Kind > b.Kind {
			return 1
		}
		return 0
	})
	if !slices.Equal(got, want) {
		c.fail("the host lists %+v from the plugin binary; want %+v", got, want)
	}
	if _, err := h.ObjectStore(snapshotterName); err == nil {
		c.fail("the host found an ObjectStore named %s: kinds are mixed up", snapshotterName)
	}
	if _, err := h.VolumeSnapshotter(objectStoreName); err == nil {
		c.fail("the host found a VolumeSnapshotter named %s: kinds are mixed up", objectStoreName)
	}
	return c
}
