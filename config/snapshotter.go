package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
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

// DefaultSnapshotter holds the built-in defaults.
func DefaultSnapshotter() Snapshotter {
	return Snapshotter{
		OperationTimeout:     time.Minute,
		DialTimeout:          10 * time.Second,
		SnapshotReadyTimeout: 10 * time.Minute,
		PollInterval:         5 * time.Second,
		MaxRetries:           5,
	}
}

// driverName is the CSI spec's form of a plugin name.
var driverName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$`)

// Prefixes of the map-valued keys.
const (
	snapshotParamPrefix = "parameters."
	restoreParamPrefix  = "restoreParameters."
)

var snapshotterKeys = map[string]func(s *Snapshotter, v string) error{
	"driver": func(s *Snapshotter, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("is empty")
		}
		if !driverName.MatchString(strings.TrimSpace(v)) {
			return fmt.Errorf("is not a CSI driver name (at most 63 letters, digits, dots and dashes, as in the PVs' spec.csi.driver)")
		}
		s.Driver = strings.TrimSpace(v)
		return nil
	},
	"endpoint": func(s *Snapshotter, v string) error {
		ep, err := parseEndpoint(v)
		s.Endpoint = ep
		return err
	},
	"tlsSecretName":              func(s *Snapshotter, v string) error { s.TLSSecretName = strings.TrimSpace(v); return nil },
	"tlsSecretNamespace":         func(s *Snapshotter, v string) error { s.TLSSecretNamespace = strings.TrimSpace(v); return nil },
	"tlsCASecretName":            func(s *Snapshotter, v string) error { s.TLSCASecretName = strings.TrimSpace(v); return nil },
	"tlsCertFile":                func(s *Snapshotter, v string) error { return absPath(&s.TLSCertFile, v) },
	"tlsKeyFile":                 func(s *Snapshotter, v string) error { return absPath(&s.TLSKeyFile, v) },
	"tlsCAFile":                  func(s *Snapshotter, v string) error { return absPath(&s.TLSCAFile, v) },
	"tlsServerName":              func(s *Snapshotter, v string) error { s.TLSServerName = strings.TrimSpace(v); return nil },
	"snapshotterSecretName":      func(s *Snapshotter, v string) error { s.SecretName = strings.TrimSpace(v); return nil },
	"snapshotterSecretNamespace": func(s *Snapshotter, v string) error { s.SecretNamespace = strings.TrimSpace(v); return nil },
	"operationTimeout":           func(s *Snapshotter, v string) error { return positiveDuration(&s.OperationTimeout, v) },
	"dialTimeout":                func(s *Snapshotter, v string) error { return positiveDuration(&s.DialTimeout, v) },
	"snapshotReadyTimeout":       func(s *Snapshotter, v string) error { return positiveDuration(&s.SnapshotReadyTimeout, v) },
	"pollInterval":               func(s *Snapshotter, v string) error { return positiveDuration(&s.PollInterval, v) },
	"maxRetries": func(s *Snapshotter, v string) (err error) {
		s.MaxRetries, err = parseInt(v, 0, 20)
		return err
	},
	"logLevel": func(s *Snapshotter, v string) (err error) {
		s.LogLevel, err = parseLogLevel(v)
		return err
	},
	"topologyMap": func(s *Snapshotter, v string) (err error) {
		s.TopologyMap, err = ParseTopologyMap(v)
		return err
	},
	"topologyZoneKey": func(s *Snapshotter, v string) error {
		v = strings.TrimSpace(v)
		if errs := validation.IsQualifiedName(v); len(errs) > 0 {
			return fmt.Errorf("is not a label key (such as topology.gke.io/zone): %s", errs[0])
		}
		s.TopologyZoneKey = v
		return nil
	},
}

// SnapshotterKeys lists the keys ParseSnapshotter accepts, sorted, with the
// two map prefixes.
func SnapshotterKeys() []string {
	keys := []string{snapshotParamPrefix + "<name>", restoreParamPrefix + "<name>"}
	for k := range snapshotterKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseSnapshotter reads the layers (earlier ones win) onto the defaults.
// errVSLCredential is the answer to a VSL with spec.credential.
var errVSLCredential = errors.New("is the file of the VSL's spec.credential, which Velero hands over, and example.io/csi uses no cloud credentials: " +
	"remove spec.credential from the VolumeSnapshotLocation (the driver's own CSI secrets come from snapshotterSecretName/snapshotterSecretNamespace)")

func ParseSnapshotter(layers ...Layer) (*Snapshotter, error) {
	s := DefaultSnapshotter()
	s.SnapshotParameters, s.RestoreParameters, s.Origin = map[string]string{}, map[string]string{}, map[string]string{}
	err := eachKey(layers, s.Origin, SnapshotterKeys(), func(k string) (func(string) error, bool) {
		if name, ok := strings.CutPrefix(k, snapshotParamPrefix); ok && name != "" {
			return func(v string) error { s.SnapshotParameters[name] = v; return nil }, true
		}
		if name, ok := strings.CutPrefix(k, restoreParamPrefix); ok && name != "" {
			return func(v string) error { s.RestoreParameters[name] = v; return nil }, true
		}
		if k == "credentialsFile" {
			// Velero's server adds it for a VSL's spec.credential: say that,
			// not "unknown key" of a key the user never wrote.
			return func(string) error { return errVSLCredential }, true
		}
		set, ok := snapshotterKeys[k]
		return func(v string) error { return set(&s, v) }, ok
	})
	if err != nil {
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
