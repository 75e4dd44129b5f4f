package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Snapshotter is every setting of the example.io/csi volume snapshotter.
type Snapshotter struct {
	Driver   string
	Endpoint string // unix:///absolute/path.sock

	SnapshotParameters map[string]string // parameters.<k>, passed to CreateSnapshot
	RestoreParameters  map[string]string // restoreParameters.<k>, passed to CreateVolume
	SecretName         string            // snapshotterSecretName
	SecretNamespace    string            // snapshotterSecretNamespace

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
		s.Driver = strings.TrimSpace(v)
		return nil
	},
	"endpoint": func(s *Snapshotter, v string) error {
		ep, err := parseEndpoint(v)
		s.Endpoint = ep
		return err
	},
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
	return &s, nil
}

// parseEndpoint accepts unix:///abs/path and unix:/abs/path.
func parseEndpoint(v string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Scheme != "unix" {
		return "", fmt.Errorf("is not a unix:///path/to/csi.sock address")
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
