package main

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/vmware-tanzu/velero/pkg/features"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"

	"example.io/velero-plugin-s3csi/internal/conformance"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.ServeIfPluginProcess()
	testenv.NoAmbientKubernetes()
	os.Exit(m.Run())
}

// `make test` runs the whole conformance suite too, as `make compat`'s
// hosts do, through the Velero release this module links (v1.18.3) in
// this process: the VolumeSnapshotter and PluginLister cases on the GCE
// PD CSI driver, and the ObjectStore cases (which objectstore's
// TestConformance also runs, on two servers, in process and through the
// host with encryption and signing).
func TestSuiteThroughVelerosHost(t *testing.T) {
	srv := testenv.StartMinIO(t, testenv.MinIOOptions{})
	d := testenv.StartGCEPDDriver(t)
	cfg := conformance.Config{PluginDir: testenv.PluginDir(t), S3URL: srv.Endpoint, Bucket: srv.MakeBucket(t),
		CredentialsFile: srv.CredentialsFile(t), CSIDriver: d.Name, CSIEndpoint: d.Endpoint,
		VolumeID: d.CreateVolume(t, fmt.Sprintf("src-%d", time.Now().UnixNano()), 20<<30).GetVolumeId()}
	res := conformance.Run(startHost, cfg)
	r := result{Velero: res.Velero, ObjectStore: cell(res.ObjectStore), VolumeSnapshotter: cell(res.VolumeSnapshotter),
		PluginLister: cell(res.PluginLister), SnapshotID: res.SnapshotID}
	checkSnapshotGone(&r, d)
	assert.NotEmpty(t, r.SnapshotID, "the VolumeSnapshotter cases made a snapshot")
	for name, c := range map[string]cell{"ObjectStore": r.ObjectStore, "VolumeSnapshotter": r.VolumeSnapshotter, "PluginLister": r.PluginLister} {
		for _, f := range c.Failures {
			t.Errorf("%s: %s", name, f)
		}
	}
}

// startHost is hack/compat/<release>/main.go's start, on the Velero
// release this module links.
func startHost(dir string, logs io.Writer, serverArgs, enabled []string) (conformance.Host, func(), error) {
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(logs)
	os.Args = append([]string{os.Args[0], "server"}, serverArgs...)
	features.Enable(enabled...)
	reg := process.NewRegistry(dir, log, logrus.DebugLevel)
	if err := reg.DiscoverPlugins(); err != nil {
		return conformance.Host{}, nil, err
	}
	m := clientmgmt.NewManager(log, logrus.DebugLevel, reg)
	return conformance.Host{
		ObjectStore: func(name string) (conformance.ObjectStore, error) {
			s, err := m.GetObjectStore(name)
			return s, err
		},
		VolumeSnapshotter: func(name string) (conformance.VolumeSnapshotter, error) {
			vs, err := m.GetVolumeSnapshotter(name)
			return vs, err
		},
		Plugins: func() []conformance.Plugin {
			var out []conformance.Plugin
			for _, kind := range common.AllPluginKinds() {
				for _, id := range reg.List(kind) {
					out = append(out, conformance.Plugin{Command: id.Command, Kind: string(id.Kind), Name: id.Name})
				}
			}
			return out
		},
	}, m.CleanupClients, nil
}
