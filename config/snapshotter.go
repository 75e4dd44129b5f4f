package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Snapshotter is every setting of the example.io/csi volume snapshotter.
type Snapshotter struct {
	Driver   string
	Endpoint string // unix:///absolute/path.sock, tcp://host:port or dns:///host:port

	// TLS of a network endpoint (a csi-relay): from a Secret in
	// cert-manager's layout (tls.crt, tls.key, ca.crt), or from files
	// mounted into the Velero pod. Exactly one of the two.
	TLSSecretName      string
	TLSSecretNamespace string
	TLSCASecretName    string // "": ca.crt of TLSSecretName; else ca.crt of this Secret in TLSSecretNamespace
	TLSCertFile        string
	TLSKeyFile         string
	TLSCAFile          string
	TLSServerName      string // "": the endpoint's host

	SnapshotParameters map[string]string // parameters.<k>, passed to CreateSnapshot
	RestoreParameters  map[string]string // restoreParameters.<k>, passed to CreateVolume
	SecretName         string            // snapshotterSecretName
	SecretNamespace    string            // snapshotterSecretNamespace

	// TopologyMap moves restored volumes to other zones (topologyMap);
	// nil maps nothing.
	TopologyMap TopologyMap
	// TopologyZoneKey is the driver's zone key (topologyZoneKey), for PVs
	// that name their zone only under topology.kubernetes.io/zone when
	// the driver's own key cannot be learned; "" learns it.
	TopologyZoneKey string

	OperationTimeout     time.Duration // each CSI call
	DialTimeout          time.Duration // Init: connect and Probe
	SnapshotReadyTimeout time.Duration // CreateSnapshot waits this long for ready_to_use
	PollInterval         time.Duration // the longest wait between ready_to_use polls
	MaxRetries           int           // retries of ABORTED / UNAVAILABLE answers
	LogLevel             string        // "": Velero's --log-level

	Origin map[string]string
}

// driverName is the CSI spec's form of a plugin name.
var driverName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$`)

// errVSLCredential is the answer to a VSL with spec.credential: it names
// that, not "unknown key" of a key the user never wrote.
var errVSLCredential = errors.New("is the file of the VSL's spec.credential, which Velero hands over, and example.io/csi uses no cloud credentials: " +
	"remove spec.credential from the VolumeSnapshotLocation (the driver's own CSI secrets come from snapshotterSecretName/snapshotterSecretNamespace)")

// ParseSnapshotter reads the layers (earlier ones win) onto the defaults.
func ParseSnapshotter(layers ...Layer) (*Snapshotter, error) {
	s := DefaultSnapshotter()
	s.SnapshotParameters, s.RestoreParameters, s.Origin = map[string]string{}, map[string]string{}, map[string]string{}
	if err := snapshotterKeys.parse(&s, layers, s.Origin); err != nil {
		return nil, err
	}
	if s.Driver == "" {
		return nil, fmt.Errorf("missing required key %q (the CSI driver's name, as in the PVs' spec.csi.driver)", "driver")
	}
	if s.Endpoint == "" {
		s.Endpoint = "unix:///var/lib/kubelet/plugins/" + s.Driver + "/csi.sock"
	}
	if (s.SecretName == "") != (s.SecretNamespace == "") {
		return nil, fmt.Errorf("snapshotterSecretName and snapshotterSecretNamespace go together: set both or neither")
	}
	if err := s.checkTLS(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Network reports whether the endpoint is a TCP address (a csi-relay).
func (s *Snapshotter) Network() bool { return !strings.HasPrefix(s.Endpoint, "unix://") }

// checkTLS: a network endpoint needs mutual TLS from exactly one source;
// a unix socket takes none.
func (s *Snapshotter) checkTLS() error {
	secret := s.TLSSecretName != "" || s.TLSSecretNamespace != ""
	files := s.TLSCertFile != "" || s.TLSKeyFile != "" || s.TLSCAFile != ""
	if !s.Network() {
		if secret || files || s.TLSServerName != "" || s.TLSCASecretName != "" {
			return fmt.Errorf("endpoint %s is a unix socket: the tls* keys apply only to a tcp:// or dns:/// endpoint (a csi-relay)", s.Endpoint)
		}
		return nil
	}
	switch {
	case secret && files:
		return fmt.Errorf("endpoint %s: set tlsSecretName/tlsSecretNamespace or tlsCertFile/tlsKeyFile/tlsCAFile, not both", s.Endpoint)
	case secret && (s.TLSSecretName == "" || s.TLSSecretNamespace == ""):
		return fmt.Errorf("tlsSecretName and tlsSecretNamespace go together: set both")
	case s.TLSCASecretName != "" && !secret:
		return fmt.Errorf("tlsCASecretName %q goes with tlsSecretName (it is read in tlsSecretNamespace); with files, tlsCAFile names the relay's CA", s.TLSCASecretName)
	case files && (s.TLSCertFile == "" || s.TLSKeyFile == "" || s.TLSCAFile == ""):
		return fmt.Errorf("tlsCertFile, tlsKeyFile and tlsCAFile go together: set all three")
	case !secret && !files:
		return fmt.Errorf("endpoint %s is a network address, and plain TCP is refused: CSI requests carry secrets and "+
			"create and delete volumes, so they travel only over mutual TLS to a csi-relay; set tlsSecretName and "+
			"tlsSecretNamespace (a Secret with tls.crt, tls.key and ca.crt) or tlsCertFile, tlsKeyFile and tlsCAFile", s.Endpoint)
	}
	return nil
}

func absPath(dst *string, v string) error {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "/") {
		return fmt.Errorf("is not an absolute path")
	}
	*dst = v
	return nil
}

// parseEndpoint accepts unix:///abs/path (and unix:/abs/path),
// tcp://host:port and dns:///host:port.
func parseEndpoint(v string) (string, error) {
	const want = "is not a unix:///path/to/csi.sock, tcp://host:port or dns:///host:port address"
	v = strings.TrimSpace(v)
	// Escapes, queries, fragments and control bytes would not survive the
	// round trip to gRPC's own parser (unix:///a%3Fb names /a?b here but
	// /a to gRPC): refused rather than decoded.
	if i := strings.IndexFunc(v, func(r rune) bool { return r == '%' || r == '?' || r == '#' || r < ' ' || r == 0x7f }); i >= 0 {
		return "", fmt.Errorf("%s (%q has no place in it)", want, v[i:i+1])
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", fmt.Errorf("%s", want)
	}
	if u.User != nil {
		return "", fmt.Errorf("carries a user in the address: the relay authenticates with TLS certificates (tls* keys)")
	}
	switch u.Scheme {
	case "tcp", "dns":
		hostport := u.Host
		if u.Scheme == "dns" {
			if u.Host != "" { // dns://resolver/host:port: the pod's resolver is the one to use
				return "", fmt.Errorf("names a DNS resolver; write dns:///host:port")
			}
			hostport = strings.TrimPrefix(u.Path, "/")
		} else if u.Path != "" {
			return "", fmt.Errorf("%s", want)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil || host == "" || port == "" {
			return "", fmt.Errorf("%s (a host and a port are needed)", want)
		}
		if u.Scheme == "dns" {
			return "dns:///" + hostport, nil
		}
		return "tcp://" + hostport, nil
	case "unix":
	default:
		return "", fmt.Errorf("%s", want)
	}
	path := u.Path
	if path == "" {
		path = u.Opaque
	}
	if !strings.HasPrefix(path, "/") || u.Host != "" {
		return "", fmt.Errorf("is not a unix:///path/to/csi.sock address (the path must be absolute)")
	}
	return "unix://" + path, nil
}

// SocketPath is the filesystem path of a unix:// endpoint.
func SocketPath(endpoint string) string { return strings.TrimPrefix(endpoint, "unix://") }
