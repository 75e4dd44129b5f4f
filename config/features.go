package config

import (
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Features is the set Velero's server passes in --features (a comma list);
// the plugin framework does not parse that flag, so the plugin does.
type Features map[string]bool

// String lists the enabled features, sorted and comma-joined.
func (f Features) String() string {
	out := make([]string, 0, len(f))
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Set adds the features of a comma list (pflag.Value).
func (f Features) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			f[name] = true
		}
	}
	return nil
}

// Type names the flag's kind for pflag's help.
func (Features) Type() string { return "stringSlice" }

// EnableCSI is Velero's feature that takes CSI volumes away from
// VolumeSnapshotter plugins.
const EnableCSI = "EnableCSI"

// BindFeatures defines --features on flags and returns the set it fills.
func BindFeatures(flags *pflag.FlagSet) Features {
	f := Features{}
	flags.Var(f, "features", "Velero's enabled feature flags, comma separated (passed by Velero's server)")
	return f
}
