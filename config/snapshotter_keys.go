package config

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// snapshotterKeys declares every key of example.io/csi once (keys.go says
// what uses the table).
var snapshotterKeys = keyTable[Snapshotter]{
	// The driver and how to reach it.
	{Name: "driver", Type: "CSI driver name", Limits: "required",
		Help: "The PVs' spec.csi.driver; PVs of other drivers are left alone.",
		Set: func(s *Snapshotter, v string) error {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("is empty")
			}
			if !driverName.MatchString(strings.TrimSpace(v)) {
				return fmt.Errorf("is not a CSI driver name (at most 63 letters, digits, dots and dashes, as in the PVs' spec.csi.driver)")
			}
			s.Driver = strings.TrimSpace(v)
			return nil
		},
		Show: func(s *Snapshotter) (any, bool) { return always(s.Driver) }},
	{Name: "endpoint", Type: "address", DefaultDoc: "unix:///var/lib/kubelet/plugins/<driver>/csi.sock",
		Limits: "unix:///path, tcp://host:port, dns:///host:port",
		Help:   "The driver's controller socket mounted into Velero's pod, or a csi-relay (docs/csi-relay.md).",
		Set: func(s *Snapshotter, v string) error {
			ep, err := parseEndpoint(v)
			s.Endpoint = ep
			return err
		},
		Show: func(s *Snapshotter) (any, bool) { return always(s.Endpoint) }},
	{Name: "tlsSecretName", Type: "Secret name", Limits: "network endpoint; with tlsSecretNamespace",
		Help: "A Secret with tls.crt, tls.key and ca.crt (cert-manager's layout), read at every Init.",
		Set:  func(s *Snapshotter, v string) error { s.TLSSecretName = strings.TrimSpace(v); return nil },
		Show: func(s *Snapshotter) (any, bool) {
			return shownIf(s.TLSSecretName != "", s.TLSSecretNamespace+"/"+s.TLSSecretName+" (tls.crt, ca.crt; tls.key <redacted>)")
		}},
	{Name: "tlsSecretNamespace", Type: "namespace", Limits: "with tlsSecretName",
		Help: "The namespace of tlsSecretName and tlsCASecretName.",
		Set:  func(s *Snapshotter, v string) error { s.TLSSecretNamespace = strings.TrimSpace(v); return nil }},
	{Name: "tlsCASecretName", Type: "Secret name", DefaultDoc: "ca.crt of tlsSecretName", Limits: "with tlsSecretName",
		Help: "A Secret whose ca.crt is the relay's CA.",
		Set:  func(s *Snapshotter, v string) error { s.TLSCASecretName = strings.TrimSpace(v); return nil },
		Show: func(s *Snapshotter) (any, bool) {
			return shownIf(s.TLSSecretName != "", orNone(s.TLSCASecretName, "ca.crt of tlsSecretName"))
		}},
	{Name: "tlsCertFile", Type: "absolute path", Limits: "network endpoint; with tlsKeyFile, tlsCAFile",
		Help: "Instead of tlsSecretName: the client certificate, mounted into Velero's pod.",
		Set:  func(s *Snapshotter, v string) error { return absPath(&s.TLSCertFile, v) },
		Show: func(s *Snapshotter) (any, bool) { return shownIf(s.TLSCertFile != "", s.TLSCertFile) }},
	{Name: "tlsKeyFile", Type: "absolute path", Limits: "with tlsCertFile",
		Help: "The client certificate's key.",
		Set:  func(s *Snapshotter, v string) error { return absPath(&s.TLSKeyFile, v) },
		Show: func(s *Snapshotter) (any, bool) { return shownIf(s.TLSCertFile != "", s.TLSKeyFile) }},
	{Name: "tlsCAFile", Type: "absolute path", Limits: "with tlsCertFile",
		Help: "The relay's CA.",
		Set:  func(s *Snapshotter, v string) error { return absPath(&s.TLSCAFile, v) },
		Show: func(s *Snapshotter) (any, bool) { return shownIf(s.TLSCertFile != "", s.TLSCAFile) }},
	{Name: "tlsServerName", Type: "host name", DefaultDoc: "the endpoint's host", Limits: "network endpoint",
		Help: "The name the relay's certificate is checked against.",
		Set:  func(s *Snapshotter, v string) error { s.TLSServerName = strings.TrimSpace(v); return nil },
		Show: func(s *Snapshotter) (any, bool) {
			return shownIf(s.Network(), orNone(s.TLSServerName, "the endpoint's host"))
		}},

	// What goes to the driver.
	{Name: "parameters", Prefix: true, Type: "string",
		Help:     "Passed to CreateSnapshot as parameter <name>.",
		SetNamed: func(s *Snapshotter, name, v string) error { s.SnapshotParameters[name] = v; return nil },
		Show:     func(s *Snapshotter) (any, bool) { return always(mapKeys(s.SnapshotParameters)) }},
	{Name: "restoreParameters", Prefix: true, Type: "string",
		Help:     "Passed to CreateVolume as parameter <name>.",
		SetNamed: func(s *Snapshotter, name, v string) error { s.RestoreParameters[name] = v; return nil },
		Show:     func(s *Snapshotter) (any, bool) { return always(mapKeys(s.RestoreParameters)) }},
	{Name: "snapshotterSecretName", Type: "Secret name", Limits: "with snapshotterSecretNamespace",
		Help: "A Secret whose data is passed as CSI secrets (never logged).",
		Set:  func(s *Snapshotter, v string) error { s.SecretName = strings.TrimSpace(v); return nil },
		Show: func(s *Snapshotter) (any, bool) {
			if s.SecretName == "" {
				return always("none")
			}
			return always(s.SecretNamespace + "/" + s.SecretName + " (values <redacted>)")
		}},
	{Name: "snapshotterSecretNamespace", Type: "namespace", Limits: "with snapshotterSecretName",
		Help: "The namespace of snapshotterSecretName.",
		Set:  func(s *Snapshotter, v string) error { s.SecretNamespace = strings.TrimSpace(v); return nil }},
	{Name: "credentialsFile", Hidden: true, // Velero adds it for a VSL's spec.credential
		Set: func(*Snapshotter, string) error { return errVSLCredential }},

	// Where restores go: the restoring cluster's choice, so the ConfigMap may say it too.
	{Name: "topologyMap", Where: InConfigMapToo, Type: "KEY: FROM=TO, …; …",
		Help: "Restore volumes into other zones (docs/topology.md).",
		Set: func(s *Snapshotter, v string) (err error) {
			s.TopologyMap, err = ParseTopologyMap(v)
			return err
		},
		Show: func(s *Snapshotter) (any, bool) { return always(orNone(s.TopologyMap.String(), "none")) }},
	{Name: "topologyZoneKey", Type: "label key", DefaultDoc: "learned from the driver",
		Help: "The driver's zone key, for PVs migrated from in-tree plugins (docs/topology.md).",
		Set: func(s *Snapshotter, v string) error {
			v = strings.TrimSpace(v)
			if errs := validation.IsQualifiedName(v); len(errs) > 0 {
				return fmt.Errorf("is not a label key (such as topology.gke.io/zone): %s", errs[0])
			}
			s.TopologyZoneKey = v
			return nil
		},
		Show: func(s *Snapshotter) (any, bool) { return always(orNone(s.TopologyZoneKey, "learned from the driver")) }},

	// How the plugin works: tunables, which the plugin ConfigMap may set too.
	durationKey(Key[Snapshotter]{Name: "operationTimeout", Where: InConfigMapToo, Default: "1m",
		Help: "Each CSI call."}, false,
		func(s *Snapshotter) *time.Duration { return &s.OperationTimeout }),
	durationKey(Key[Snapshotter]{Name: "dialTimeout", Where: InConfigMapToo, Default: "10s",
		Help: "Init's connect, Probe and capability check."}, false,
		func(s *Snapshotter) *time.Duration { return &s.DialTimeout }),
	durationKey(Key[Snapshotter]{Name: "snapshotReadyTimeout", Where: InConfigMapToo, Default: "10m",
		Help: "How long CreateSnapshot may take until ready_to_use, and a restore's CreateVolume, retries included."}, false,
		func(s *Snapshotter) *time.Duration { return &s.SnapshotReadyTimeout }),
	durationKey(Key[Snapshotter]{Name: "pollInterval", Where: InConfigMapToo, Default: "5s",
		Help: "The longest wait between ready_to_use polls (the first comes after 25 ms)."}, false,
		func(s *Snapshotter) *time.Duration { return &s.PollInterval }),
	intKey(Key[Snapshotter]{Name: "maxRetries", Where: InConfigMapToo, Default: "5",
		Help: "Retries of ABORTED, UNAVAILABLE, RESOURCE_EXHAUSTED answers, with backoff."}, 0, 20,
		func(s *Snapshotter) *int { return &s.MaxRetries }),
	logLevelKey(func(s *Snapshotter) *string { return &s.LogLevel }),
}

// DefaultSnapshotter holds the built-in defaults of the keys that have one.
func DefaultSnapshotter() Snapshotter {
	var s Snapshotter
	snapshotterKeys.defaults(&s)
	return s
}

// SnapshotterKeys lists the keys ParseSnapshotter accepts, sorted, with the
// two map prefixes as parameters.<name> and restoreParameters.<name>.
func SnapshotterKeys() []string { return snapshotterKeys.names() }

// snapshotterKeyDocs are the rows of the key table of
// docs/volumesnapshotlocation.md.
func snapshotterKeyDocs() []keyDoc { return snapshotterKeys.docs("VSL") }

// SetKeys lists the keys that were set, sorted, each with its shown value
// (the Fields form, secrets masked) and where it came from: doctor's
// "config parses" line.
func (s *Snapshotter) SetKeys() string { return snapshotterKeys.setKeys(s.Fields(), s.Origin) }
