package snapshotter

import (
	"context"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
	"example.io/velero-plugin-s3csi/kube"
)

// DiagnoseOptions are what doctor adds to a VSL's own config.
type DiagnoseOptions struct {
	// TestVolumeSize > 0: create a volume this big, snapshot it, restore
	// it and delete all three, reporting each step's time.
	TestVolumeSize int64
}

// Diagnose runs the VSL's checks in order, each a line of r.
func Diagnose(ctx context.Context, log logrus.FieldLogger, k kube.Reader, cfg map[string]string, opts DiagnoseOptions, r finding.Reporter) {
	r.Check("config parses", func() (string, error) {
		pc, err := k.PluginConfig(ctx, veleroplugin.KindVolumeSnapshotter, Name)
		if err != nil {
			return "", err
		}
		c, err := config.ParseSnapshotter(config.Layers(pc, "VSL config", cfg)...)
		if err != nil {
			return "", err
		}
		return "driver " + c.Driver + ", endpoint " + c.Endpoint, nil
	})
}
