package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/finding"
	"example.io/velero-plugin-s3csi/internal/veleroplugin"
)

// checks are the VSL's checks, in order, shared by Init (which stops at
// the first failure and returns it) and doctor (which prints a line for
// each): an Init error and a doctor line are one text. Each step fills in
// what the later ones need.
type checks struct {
	s     *Snapshotter
	raw   map[string]string
	pc    config.PluginConfig
	c     *config.Snapshotter
	tc    *clientTLS
	cl    controller
	caps  map[csi.ControllerServiceCapability_RPC_Type]bool
	creds map[string]string
	// topology: the driver advertises VOLUME_ACCESSIBILITY_CONSTRAINTS.
	topology bool
}

// session is what the checks set up, for the calls that follow.
func (k *checks) session() *session {
	return &session{log: k.s.log, cfg: k.c, csi: k.cl, creds: k.creds, topology: k.topology,
		canList: k.caps[csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS]}
}

// pluginCapabilities asks whether the driver's volumes have topology.
// A driver that does not answer GetPluginCapabilities has none.
func (k *checks) pluginCapabilities(ctx context.Context) {
	resp, err := k.cl.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		k.s.log.WithError(err).Debug("GetPluginCapabilities: no answer; restores send no topology")
		return
	}
	for _, c := range resp.GetCapabilities() {
		if c.GetService().GetType() == csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS {
			k.topology = true
		}
	}
}

// check runs fn as the check name of r; an error becomes a
// *finding.Failure under that name, keeping the fix it carries.
func check(r finding.Reporter, name string, fn func() (string, error)) bool {
	return r.Check(name, func() (string, error) {
		seen, err := fn()
		if err == nil {
			return seen, nil
		}
		var f *finding.Failure
		if errors.As(err, &f) {
			return "", &finding.Failure{Check: name, Err: f.Err, Fix: f.Fix}
		}
		return "", &finding.Failure{Check: name, Err: err}
	})
}

// firstFailure is Init's reporter: it runs checks until one fails and
// keeps that failure; notes are the doctor's alone.
type firstFailure struct{ err error }

var _ finding.Reporter = (*firstFailure)(nil)

func (f *firstFailure) Check(_ string, fn func() (string, error)) bool {
	if f.err != nil {
		return false
	}
	_, f.err = fn()
	return f.err == nil
}

func (*firstFailure) Note(string, string) {}

// parse reads the plugin ConfigMap and the VSL config.
func (k *checks) parse(ctx context.Context, r finding.Reporter) bool {
	return check(r, "config parses", func() (string, error) {
		var err error
		if k.pc, err = k.s.kube.PluginConfig(ctx, veleroplugin.KindVolumeSnapshotter, Name); err != nil {
			return "", finding.Fail("", err, "fix the plugin ConfigMap (labeled velero.io/plugin-config and %s: VolumeSnapshotter)", Name)
		}
		if k.c, err = config.ParseSnapshotter(config.Layers(k.pc, "VSL config", k.raw)...); err != nil {
			return "", finding.Fail("", err, "correct the key in the VSL's spec.config or the plugin ConfigMap (keys: %s)", strings.Join(config.SnapshotterKeys(), ", "))
		}
		return describeConfig(k.c), nil
	})
}

// describeConfig lists every key that was set, with where it came from.
func describeConfig(c *config.Snapshotter) string { return c.SetKeys() }

// hostPort is the address of a tcp:// or dns:/// endpoint.
func hostPort(endpoint string) string {
	return strings.TrimPrefix(strings.TrimPrefix(endpoint, "tcp://"), "dns:///")
}

// socket: a unix endpoint's socket is there; a network endpoint answers
// a TCP dial (doctor only: Init's gRPC dial finds that out itself).
func (k *checks) socket(ctx context.Context, r finding.Reporter, doctor bool) bool {
	c := k.c
	if !c.Network() {
		path := config.SocketPath(c.Endpoint)
		return check(r, fmt.Sprintf("socket of CSI driver %s at %s", c.Driver, c.Endpoint), func() (string, error) {
			fi, err := os.Stat(path)
			switch {
			case errors.Is(err, os.ErrNotExist):
				return "", finding.Fail("", fmt.Errorf("no socket at %s: is the driver's controller socket mounted into this pod (deploy/velero-deployment-patch.yaml)?", path),
					"mount the driver's controller socket at %s (a hostPath as in deploy/velero-deployment-patch.yaml), or set endpoint to where it is, or reach the controller through csi-relay (deploy/csi-relay/)", path)
			case err != nil:
				return "", finding.Fail("", fmt.Errorf("stat %s: %w", path, err), "let the Velero pod's user (65532) read the folder of %s", path)
			case fi.Mode()&os.ModeSocket == 0:
				return "", finding.Fail("", fmt.Errorf("%s is a %s, not a socket", path, fi.Mode().Type()), "set endpoint to the driver's controller socket")
			}
			return path + " is a socket", nil
		})
	}
	if !doctor {
		return true
	}
	addr := hostPort(c.Endpoint)
	return check(r, fmt.Sprintf("relay of CSI driver %s at %s reachable", c.Driver, c.Endpoint), func() (string, error) {
		dctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
		defer cancel()
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
		if err != nil {
			return "", finding.Fail("", fmt.Errorf("TCP dial within %s (dialTimeout): %w", c.DialTimeout, err),
				"check that the csi-relay runs and that its Service (deploy/csi-relay/service.yaml) and NetworkPolicy let this pod reach %s", addr)
		}
		conn.Close()
		return "TCP connect to " + addr, nil
	})
}

// connect reads the TLS material and dials (the connection is shared).
func (k *checks) connect(ctx context.Context, r finding.Reporter) bool {
	if k.c.Network() {
		ok := check(r, "TLS material of the VSL", func() (string, error) {
			var err error
			k.tc, err = k.s.loadTLS(ctx, k.c)
			if err != nil {
				return "", finding.Fail("", err, "point tlsCertFile/tlsKeyFile/tlsCAFile (or tlsSecretName) at the client certificate, its key and the relay's CA")
			}
			return "client certificate " + describeCert(k.tc), nil
		})
		if !ok {
			return false
		}
	}
	return check(r, "connection to "+k.c.Endpoint, func() (string, error) {
		var err error
		k.cl, err = dial(k.c.Endpoint, k.tc, k.c.SnapshotReadyTimeout+k.c.OperationTimeout)
		return "gRPC client", err
	})
}

// probe asks the driver whether it is ready.
func (k *checks) probe(ctx context.Context, r finding.Reporter) bool {
	c := k.c
	return check(r, fmt.Sprintf("CSI driver %s at %s ready (Probe)", c.Driver, c.Endpoint), func() (string, error) {
		resp, err := k.cl.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			fix := "check the driver's controller: is it running, and is this its socket?"
			if c.Network() {
				fix = "check the csi-relay's log (it names a refused client) and its --csi-address"
			}
			return "", finding.Fail("", fmt.Errorf("probe: %w", err), fix)
		}
		if resp.GetReady() != nil && !resp.GetReady().GetValue() {
			return "", finding.Fail("", errors.New("the driver says it is not ready"), "wait for the driver to start, or read its log")
		}
		return "ready", nil
	})
}

// identity checks that the endpoint serves the configured driver.
func (k *checks) identity(ctx context.Context, r finding.Reporter) bool {
	c := k.c
	return check(r, fmt.Sprintf("driver name at %s (GetPluginInfo)", c.Endpoint), func() (string, error) {
		info, err := k.cl.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		if err != nil {
			return "", fmt.Errorf("plugin info: %w", err)
		}
		if info.GetName() != c.Driver {
			return "", finding.Fail("", fmt.Errorf("the endpoint serves driver %s, the VSL says %s", info.GetName(), c.Driver),
				"set driver: %s or point endpoint at %s's controller", info.GetName(), c.Driver)
		}
		return c.Driver + " " + info.GetVendorVersion(), nil
	})
}

// needed are the controller capabilities the plugin cannot do without.
var needed = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
}

// capabilities checks that snapshots and volumes are supported.
func (k *checks) capabilities(ctx context.Context, r finding.Reporter) bool {
	c := k.c
	return check(r, fmt.Sprintf("CSI driver %s controller capabilities", c.Driver), func() (string, error) {
		resp, err := k.cl.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
		if err != nil {
			return "", fmt.Errorf("controller capabilities: %w", err)
		}
		k.caps = map[csi.ControllerServiceCapability_RPC_Type]bool{}
		for _, cp := range resp.GetCapabilities() {
			k.caps[cp.GetRpc().GetType()] = true
		}
		var missing, have []string
		for _, need := range needed {
			if !k.caps[need] {
				missing = append(missing, need.String())
			} else {
				have = append(have, need.String())
			}
		}
		if len(missing) > 0 {
			return "", finding.Fail("", fmt.Errorf("the driver lacks the controller capability %s, which this plugin needs", strings.Join(missing, " and ")),
				"use a version of %s (or a driver) with snapshot support, or back these volumes up another way (Velero's file system backup)", c.Driver)
		}
		return strings.Join(have, ", "), nil
	})
}

// secret reads the CSI secrets every call carries, when the VSL names them.
func (k *checks) secret(ctx context.Context, r finding.Reporter) bool {
	c := k.c
	if c.SecretName == "" {
		return true
	}
	return check(r, fmt.Sprintf("read CSI secret %s/%s", c.SecretNamespace, c.SecretName), func() (string, error) {
		var err error
		k.creds, err = csiSecrets(ctx, k.s.kube, c.SecretNamespace, c.SecretName)
		switch {
		case apierrors.IsForbidden(err):
			return "", finding.Fail("", err, "grant Velero's service account the verb get on secrets in namespace %s (a Role and RoleBinding as in deploy/rbac.yaml)", c.SecretNamespace)
		case apierrors.IsNotFound(err):
			return "", finding.Fail("", err, "create Secret %s/%s with the driver's CSI secrets, or correct snapshotterSecretName/snapshotterSecretNamespace", c.SecretNamespace, c.SecretName)
		case err != nil:
			return "", err
		}
		return fmt.Sprintf("%d keys (values not shown)", len(k.creds)), nil
	})
}
