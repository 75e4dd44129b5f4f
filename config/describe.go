package config

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// setting renders one effective value with where it came from.
func setting(origin map[string]string, key string, value any) string {
	from, ok := origin[key]
	if !ok {
		from = "default"
	}
	return fmt.Sprintf("%v (%s)", value, from)
}

// Fields lists the effective object-store settings and their origins for
// the one Info line at Init; secrets show as <redacted>.
func (o *ObjectStore) Fields() logrus.Fields {
	f := logrus.Fields{}
	add := func(key string, v any) { f[key] = setting(o.Origin, key, v) }
	add("bucket", o.Bucket)
	add("region", o.Region)
	add("s3Url", orNone(o.S3URL, "AWS"))
	add("publicUrl", orNone(o.PublicURL, "none"))
	add("s3ForcePathStyle", o.ForcePathStyle)
	add("insecureSkipTLSVerify", o.InsecureSkipTLSVerify)
	add("caCert", orNone(map[bool]string{true: "set"}[len(o.CACert) > 0], "none"))
	add("credentialsFile", orNone(o.CredentialsFile, "none: SDK default chain"))
	if o.RoleARN != "" {
		add("roleArn", o.RoleARN)
		add("roleSessionName", o.RoleSessionName)
		add("externalId", showExternalID(o.ExternalID))
		add("stsUrl", orNone(o.STSEndpoint(), "AWS regional STS"))
	}
	add("storageClass", orNone(o.StorageClass, "the bucket's default")+" for backup tarballs; metadata and logs: the default")
	add("serverSideEncryption", orNone(o.ServerSideEncryption, "none"))
	if len(o.CustomerKey) > 0 { // prints <redacted>
		from := "customerKeyEncryptionFile"
		if _, ok := o.Origin["customerKeyEncryptionSecret"]; ok {
			from = "customerKeyEncryptionSecret"
		}
		f["sseCustomerKey"] = fmt.Sprintf("%v (%s in %s)", o.CustomerKey, from, o.Origin[from])
	}
	add("checksumAlgorithm", orNone(o.ChecksumAlgorithm, "none"))
	if _, set := o.Origin["checksumAlgorithm"]; !set && o.ObjectLockMode != "" {
		f["checksumAlgorithm"] = o.ChecksumAlgorithm + " (default: objectLockMode needs one)"
	}
	o.encryptionFields(f)
	o.signingFields(f)
	add("objectLockMode", orNone(o.ObjectLockMode, "none"))
	add("objectLockRetention", showRetention(o.ObjectLockRetention))
	add("multipartPartSize", ShowSize(o.PartSize))
	add("multipartConcurrency", o.Concurrency)
	add("requestTimeout", o.RequestTimeout)
	add("stallTimeout", o.StallTimeout)
	add("maxRetries", o.MaxRetries)
	add("progressInterval", o.ProgressInterval)
	add("staleUploadAge", o.StaleUploadAge)
	add("logLevel", orNone(o.LogLevel, "Velero's --log-level"))
	add("memoryBudget", ShowSize(o.MemoryBudget)+" for the whole plugin process")
	add("spoolDir", orNone(o.SpoolDir, o.SpoolPath()+", the OS temp dir"))
	return f
}

// showExternalID shows the start of an external id: enough to tell which
// one is set, not the whole of what the trust policy is matched against.
func showExternalID(id string) string {
	switch {
	case id == "":
		return "none"
	case len(id) <= 8:
		return id[:2] + "… (" + fmt.Sprint(len(id)) + " characters)"
	}
	return id[:4] + "… (" + fmt.Sprint(len(id)) + " characters)"
}

// showRetention prints a retention as a duration and, when whole, in days.
func showRetention(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == 0:
		return "none"
	case d%day == 0:
		return fmt.Sprintf("%s = %d days", d, d/day)
	}
	return d.String()
}

// ShowSize prints a byte size in the largest binary unit that divides it
// (48MiB, 5GiB), else in bytes.
func ShowSize(n int64) string {
	for _, u := range []struct {
		shift int
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// Fields lists the effective snapshotter settings; CSI secrets are never
// shown, only whether a Secret is named.
func (s *Snapshotter) Fields() logrus.Fields {
	f := logrus.Fields{}
	add := func(key string, v any) { f[key] = setting(s.Origin, key, v) }
	add("driver", s.Driver)
	add("endpoint", s.Endpoint)
	add("parameters", mapKeys(s.SnapshotParameters))
	add("restoreParameters", mapKeys(s.RestoreParameters))
	secret := "none"
	if s.SecretName != "" {
		secret = s.SecretNamespace + "/" + s.SecretName + " (values <redacted>)"
	}
	add("snapshotterSecretName", secret)
	if s.TLSSecretName != "" {
		add("tlsSecretName", s.TLSSecretNamespace+"/"+s.TLSSecretName+" (tls.crt, ca.crt; tls.key <redacted>)")
		add("tlsCASecretName", orNone(s.TLSCASecretName, "ca.crt of tlsSecretName"))
	}
	if s.TLSCertFile != "" {
		add("tlsCertFile", s.TLSCertFile)
		add("tlsKeyFile", s.TLSKeyFile)
		add("tlsCAFile", s.TLSCAFile)
	}
	if s.Network() {
		add("tlsServerName", orNone(s.TLSServerName, "the endpoint's host"))
	}
	add("operationTimeout", s.OperationTimeout)
	add("dialTimeout", s.DialTimeout)
	add("snapshotReadyTimeout", s.SnapshotReadyTimeout)
	add("pollInterval", s.PollInterval)
	add("maxRetries", s.MaxRetries)
	add("logLevel", orNone(s.LogLevel, "Velero's --log-level"))
	add("topologyMap", orNone(s.TopologyMap.String(), "none"))
	add("topologyZoneKey", orNone(s.TopologyZoneKey, "learned from the driver"))
	return f
}

func orNone(v, none string) string {
	if v == "" {
		return none
	}
	return v
}

func mapKeys(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// SetKeys lists the keys that were set, sorted, each with its shown value
// (the Fields form, secrets masked) and where it came from: doctor's
// "config parses" line.
func SetKeys(fields logrus.Fields, origin map[string]string) string {
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		if _, set := origin[key]; set {
			parts = append(parts, fmt.Sprintf("%s=%v", key, fields[key]))
		}
	}
	return strings.Join(parts, ", ")
}
