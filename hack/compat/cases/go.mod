// The cases every per-release Velero host runs (hack/compat/<release>).
// No Velero dependency: its interfaces have the method sets of Velero's
// ObjectStore and VolumeSnapshotter, so any release's clients satisfy
// them, and its one requirement is pinned at the oldest host's version so
// that each host module keeps its own release's versions (MVS takes the
// highest).
module example.io/velero-plugin-s3csi/hack/compat/cases

go 1.22.0

require k8s.io/apimachinery v0.29.0

require (
	github.com/go-logr/logr v1.3.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/google/gofuzz v1.2.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
	golang.org/x/net v0.17.0 // indirect
	golang.org/x/text v0.13.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
	k8s.io/klog/v2 v2.110.1 // indirect
	k8s.io/utils v0.0.0-20230726121419-3b25d923346b // indirect
	sigs.k8s.io/json v0.0.0-20221116044647-bc3834ca7abd // indirect
	sigs.k8s.io/structured-merge-diff/v4 v4.4.1 // indirect
)
