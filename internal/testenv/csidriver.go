package testenv

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// CSIDriver is a running CSI driver process on a unix socket.
type CSIDriver struct {
	Name     string // the driver's CSI name
	Endpoint string // unix:///.../csi.sock
	Identity csi.IdentityClient
	Control  csi.ControllerClient
}

// GCEPDDriverName is the name the GCE PD driver serves.
const GCEPDDriverName = "pd.csi.storage.gke.io"

// DriverOption changes how StartGCEPDDriver runs the driver.
type DriverOption func(args []string) []string

// WithoutSnapshots runs a driver that advertises no CREATE_DELETE_SNAPSHOT
// or LIST_SNAPSHOTS (and so refuses snapshot calls): one without snapshot
// support.
func WithoutSnapshots() DriverOption {
	return func(args []string) []string { return append(args, "--no-snapshots") }
}

// WithZone runs the fake cloud in zone: volumes asked for no topology go
// there, and its NodeGetInfo names it.
func WithZone(zone string) DriverOption {
	return func(args []string) []string { return append(args, "--zone", zone) }
}

// WithZones gives the fake cloud these zones only: a volume asked for
// another is refused, as GCE refuses an unknown zone.
func WithZones(zones ...string) DriverOption {
	return func(args []string) []string { return append(args, "--zones", strings.Join(zones, ",")) }
}

// WithoutTopology runs a driver that does not advertise
// VOLUME_ACCESSIBILITY_CONSTRAINTS.
func WithoutTopology() DriverOption {
	return func(args []string) []string { return append(args, "--no-topology") }
}

// WithInternalWithoutParameter runs a driver that answers INTERNAL to a
// CreateSnapshot or CreateVolume lacking parameter name, having made
// nothing: ceph-csi without its clusterID.
func WithInternalWithoutParameter(name string) DriverOption {
	return func(args []string) []string { return append(args, "--internal-without-parameter", name) }
}

// StartGCEPDDriver starts the GCE PD CSI driver's real controller code
// against its in-memory fake GCE (hack/csidriver, built by `make tools`)
// and stops it when the test ends.
func StartGCEPDDriver(t T, opts ...DriverOption) *CSIDriver {
	t.Helper()
	bin := Tool(t, "csidriver")
	dir := t.TempDir()
	sock := filepath.Join(dir, "csi.sock")
	d := &CSIDriver{Name: GCEPDDriverName, Endpoint: "unix://" + sock}
	args := []string{"--endpoint", d.Endpoint, "--driver-name", d.Name}
	for _, o := range opts {
		args = o(args)
	}
	startProcess(t, "csidriver", bin, args, nil, dir)
	conn, err := grpc.NewClient(d.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d.Identity, d.Control = csi.NewIdentityClient(conn), csi.NewControllerClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = d.Identity.Probe(ctx, &csi.ProbeRequest{})
		cancel()
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("CSI driver at %s not ready: %v", d.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CreateVolume makes a volume on the driver, as a provisioner would.
func (d *CSIDriver) CreateVolume(t T, name string, bytes int64) *csi.Volume {
	t.Helper()
	return d.CreateVolumeIn(t, name, bytes, nil)
}

// GCEZoneKey is the GCE PD driver's topology key.
const GCEZoneKey = "topology.gke.io/zone"

// CreateVolumeIn makes a volume in the given topology segment (nil: where
// the driver likes), as a provisioner would for a pod's node, with the
// parameters given as key-value pairs.
func (d *CSIDriver) CreateVolumeIn(t T, name string, bytes int64, segment map[string]string, params ...string) *csi.Volume {
	t.Helper()
	p := map[string]string{}
	for i := 0; i+1 < len(params); i += 2 {
		p[params[i]] = params[i+1]
	}
	var req *csi.TopologyRequirement
	if segment != nil {
		top := []*csi.Topology{{Segments: segment}}
		req = &csi.TopologyRequirement{Requisite: top, Preferred: top}
	}
	resp, err := d.Control.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		AccessibilityRequirements: req,
		Parameters:                p,
		Name:                      name,
		CapacityRange:             &csi.CapacityRange{RequiredBytes: bytes},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
	})
	if err != nil {
		t.Fatalf("create volume %s on %s: %v", name, d.Name, err)
	}
	return resp.GetVolume()
}

// SilentSocket listens on a unix socket, accepts connections and never
// answers: a driver that hangs.
func SilentSocket(t T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return fmt.Sprintf("unix://%s", sock)
}
