package objectstore

import (
	"context"

	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/kube"
)

// Diagnose runs the BSL's checks in order, each a line of r.
func Diagnose(ctx context.Context, log logrus.FieldLogger, k kube.Reader, cfg map[string]string, r finding.Reporter) {
}
