// Command csidriver serves the GCE PD CSI driver's real identity,
// controller and node code on a unix socket, against the driver's own
// in-memory fake GCE API: a real CSI driver process with snapshot support
// that runs anywhere, for the snapshotter's tests and the e2e. Its state
// lives in memory and ends with the process.
//
// It is its own Go module so the plugin does not take on the driver's
// dependencies; hack/tool.sh builds it into the tool cache.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	compute "google.golang.org/api/compute/v1"
	"sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/deviceutils"
	gce "sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/gce-cloud-provider/compute"
	metadataservice "sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/gce-cloud-provider/metadata"
	driver "sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/gce-pd-csi-driver"
	"sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/linkcache"
	mountmanager "sigs.k8s.io/gcp-compute-persistent-disk-csi-driver/pkg/mount-manager"
)

func main() {
	endpoint := flag.String("endpoint", "", "unix:///path/to/csi.sock")
	name := flag.String("driver-name", "pd.csi.storage.gke.io", "CSI driver name")
	project := flag.String("project", "test-project", "fake GCE project")
	zone := flag.String("zone", "country-region-zone", "fake GCE zone")
	noSnapshots := flag.Bool("no-snapshots", false, "advertise no CREATE_DELETE_SNAPSHOT or LIST_SNAPSHOTS: a driver without snapshot support, for doctor's tests")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "csidriver: --endpoint is required")
		os.Exit(2)
	}

	d := driver.GetGCEDriver()
	cloud, err := gce.CreateFakeCloudProvider(*project, *zone, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "csidriver: fake cloud:", err)
		os.Exit(1)
	}
	// The node service runs on fakes too: without one the driver crashes
	// on node calls.
	mounter := mountmanager.NewFakeSafeMounter()
	nodeArgs := &driver.NodeServerArgs{
		EnableDeviceInUseCheck: true,
		DeviceCache:            linkcache.NewTestDeviceCache(time.Minute, linkcache.NewTestNodeWithVolumes([]string{})),
	}
	controller := driver.NewControllerServer(d, cloud, 0, 5*time.Minute, nil, false, false,
		driver.MultiZoneVolumeHandleConfig{}, driver.ListVolumesConfig{}, driver.ProvisionableDisksConfig{}, true,
		&driver.GCEControllerServerArgs{})
	node := driver.NewNodeServer(d, mounter, deviceutils.NewFakeDeviceUtils(true), metadataservice.NewFakeService(),
		mountmanager.NewFakeStatterWithOptions(mounter, mountmanager.FakeStatterOptions{}), nodeArgs)
	if err := d.SetupGCEDriver(*name, "fake", nil, nil, driver.NewIdentityServer(d), controller, node); err != nil {
		fmt.Fprintln(os.Stderr, "csidriver: setup:", err)
		os.Exit(1)
	}
	if *noSnapshots {
		// The driver's own list less the snapshot ones; the driver then
		// also refuses snapshot calls, as one without support does.
		d.AddControllerServiceCapabilities([]csi.ControllerServiceCapability_RPC_Type{
			csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
			csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
			csi.ControllerServiceCapability_RPC_PUBLISH_READONLY,
			csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
			csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		})
	}
	cloud.InsertInstance(&compute.Instance{Name: "test-name", Disks: []*compute.AttachedDisk{}}, *zone, "test-name")
	d.Run(*endpoint, 10000, false, nil)
}
