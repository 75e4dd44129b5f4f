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
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/grpc"
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
	noTopology := flag.Bool("no-topology", false, "advertise no VOLUME_ACCESSIBILITY_CONSTRAINTS: a driver whose volumes are reachable from every node")
	needParam := flag.String("internal-without-parameter", "", "answer a CreateSnapshot or CreateVolume that lacks this parameter with INTERNAL, "+
		"as ceph-csi answers a missing clusterID (the parameter is taken out before the GCE PD code sees the call)")
	zones := flag.String("zones", "", "the zones the fake cloud has, comma-separated: a disk elsewhere is refused as GCE refuses an unknown zone (empty: any zone)")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "csidriver: --endpoint is required")
		os.Exit(2)
	}

	d := driver.GetGCEDriver()
	fake, err := gce.CreateFakeCloudProvider(*project, *zone, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "csidriver: fake cloud:", err)
		os.Exit(1)
	}
	cloud := &lockedCloud{f: fake, zones: map[string]bool{}}
	for _, z := range strings.Split(*zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			cloud.zones[z] = true
		}
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
	identity := driver.NewIdentityServer(d)
	if err := d.SetupGCEDriver(*name, "fake", nil, nil, identity, controller, node); err != nil {
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
	if err := serve(*endpoint, identityServer{identity, *noTopology}, controllerServer{controller, *needParam}, node); err != nil {
		fmt.Fprintln(os.Stderr, "csidriver:", err)
		os.Exit(1)
	}
}

// serve is the driver's own gRPC server (its Run) with the test driver's
// identity and controller in front of the real ones.
func serve(endpoint string, ids csi.IdentityServer, cs csi.ControllerServer, ns csi.NodeServer) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "unix" || u.Path == "" {
		return fmt.Errorf("--endpoint %q is not unix:///path", endpoint)
	}
	if err := os.Remove(u.Path); err != nil && !os.IsNotExist(err) {
		return err
	}
	l, err := net.Listen("unix", u.Path)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	csi.RegisterIdentityServer(s, ids)
	csi.RegisterControllerServer(s, cs)
	csi.RegisterNodeServer(s, ns)
	return s.Serve(l)
}
