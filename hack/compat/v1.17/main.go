// Command host loads the built plugin with this module's Velero release's
// own plugin host (pkg/plugin/clientmgmt and its process registry) and runs
// the conformance suite (internal/conformance). `make compat` builds and runs it.
//
// The same file is in every hack/compat/<release> module; a test in
// hack/compat checks that they do not drift apart.
package main

import (
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"github.com/vmware-tanzu/velero/pkg/features"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework/common"

	"example.io/velero-plugin-s3csi/internal/conformance"
)

func main() {
	// The registry also runs this binary as `<self> run-plugins` to list
	// the plugins built into it, as it does the velero binary: none here.
	if len(os.Args) > 1 && os.Args[1] == "run-plugins" {
		framework.NewServer().BindFlags(pflag.CommandLine).Serve()
		return
	}
	conformance.Main(start)
}

// start is what `velero server <serverArgs>` does to reach its plugins.
func start(dir string, logs io.Writer, serverArgs, enabled []string) (conformance.Host, func(), error) {
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(logs)
	// Velero v1.15+ hands a plugin os.Args[2:] ("velero server" left out);
	// v1.14 hands --log-level and its feature set's --features.
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
