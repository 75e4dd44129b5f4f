package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/config"
)

func TestTopologyMap(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        config.TopologyMap
		err         string
	}{
		{"the issue's example", "topology.gke.io/zone: us-central1-a=us-east1-b, us-central1-c=us-east1-c",
			config.TopologyMap{"topology.gke.io/zone": {"us-central1-a": "us-east1-b", "us-central1-c": "us-east1-c"}}, ""},
		{"two keys, ; and new line", "topology.gke.io/zone: a=b;\ntopology.kubernetes.io/region: r1=r2\n",
			config.TopologyMap{"topology.gke.io/zone": {"a": "b"}, "topology.kubernetes.io/region": {"r1": "r2"}}, ""},
		{"no colon", "us-central1-a=us-east1-b", nil, `"us-central1-a=us-east1-b", which is not KEY: FROM=TO, FROM=TO`},
		{"no pairs", "topology.gke.io/zone:", nil, "which is not KEY: FROM=TO"},
		{"half a pair", "topology.gke.io/zone: a=b, c", nil, `has "c" under topology.gke.io/zone, which is not FROM=TO`},
		{"empty target", "topology.gke.io/zone: a=", nil, "which is not FROM=TO"},
		{"bad key", "topology gke/zone: a=b", nil, `has topology key "topology gke/zone", which is not a label key`},
		{"bad value", "topology.gke.io/zone: a=us east", nil, `has "us east" under topology.gke.io/zone, which is not a label value`},
		{"mapped twice", "topology.gke.io/zone: a=b, a=c", nil, "maps a twice under topology.gke.io/zone (to b and to c)"},
		{"key twice", "k/zone: a=b; k/zone: c=d", nil, "names topology key k/zone twice"},
		{"nothing", " ; ", nil, "maps nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "topologyMap": tc.value}})
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), `invalid value for "topologyMap" in VSL config: `)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.TopologyMap)
			back, err := config.ParseTopologyMap(s.TopologyMap.String())
			require.NoError(t, err)
			assert.Equal(t, tc.want, back, "String() reads back")
		})
	}
	t.Run("the ConfigMap may set it, not the zone key", func(t *testing.T) {
		vsl := config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d"}}
		cm := config.Layer{Name: "ConfigMap velero/csi-config", TunablesOnly: true, Values: map[string]string{"topologyMap": "topology.gke.io/zone: a=b"}}
		s, err := config.ParseSnapshotter(vsl, cm)
		require.NoError(t, err)
		assert.Equal(t, "topology.gke.io/zone: a=b (ConfigMap velero/csi-config)", s.Fields()["topologyMap"])
		cm.Values = map[string]string{"topologyZoneKey": "topology.gke.io/zone"}
		_, err = config.ParseSnapshotter(vsl, cm)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `key "topologyZoneKey" is not allowed in ConfigMap velero/csi-config`)
	})
	t.Run("topologyZoneKey must be a label key", func(t *testing.T) {
		_, err := config.ParseSnapshotter(config.Layer{Name: "VSL config", Values: map[string]string{"driver": "d", "topologyZoneKey": "zone key"}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `invalid value for "topologyZoneKey" in VSL config: "zone key" is not a label key`)
	})
}
