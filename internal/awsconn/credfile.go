package awsconn

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"example.io/velero-plugin-s3csi/internal/suggest"
)

// knownKeys are the settings of the AWS shared config and credentials
// files that a profile of a BSL's credentials file may hold (the SDK's
// config/shared_config.go). A key outside them is ignored by the SDK,
// which is how `aws_access_key = …` silently leaves a plugin with the
// environment's credentials or none (velero#6439).
var knownKeys = []string{
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_account_id",
	"region", "output", "ca_bundle", "endpoint_url", "ignore_configured_endpoint_urls", "services",
	"role_arn", "source_profile", "credential_source", "external_id", "role_session_name", "duration_seconds",
	"mfa_serial", "web_identity_token_file", "credential_process",
	"sso_session", "sso_account_id", "sso_role_name", "sso_region", "sso_start_url", "sso_registration_scopes",
	"s3", "s3_use_arn_region", "s3_disable_multiregion_access_points",
	"max_attempts", "retry_mode", "use_fips_endpoint", "use_dualstack_endpoint", "ec2_metadata_service_endpoint",
	"ec2_metadata_service_endpoint_mode", "ec2_metadata_v1_disabled", "defaults_mode", "sdk_ua_app_id",
	"request_min_compression_size_bytes", "disable_request_compression", "account_id_endpoint_mode",
	"request_checksum_calculation", "response_checksum_validation", "auth_scheme_preference", "signature_version",
}

// ways a profile may name credentials without static keys.
var credentialSources = []string{"role_arn", "credential_process", "web_identity_token_file", "sso_session", "sso_start_url"}

// maxCredentialsFile bounds the read: a credentials file is small.
const maxCredentialsFile = 1 << 20

// CheckCredentialsFile reads an AWS shared credentials file and checks
// what the SDK would pass over in silence: a line that is no INI, a key
// no AWS SDK knows in the profile used (with the key it was likely meant
// to be), a profile that is missing, and half a key pair. It returns what
// the profile holds (never a secret) for the doctor's line.
func CheckCredentialsFile(path, profile string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(data) > maxCredentialsFile {
		return "", fmt.Errorf("is larger than 1 MiB: not a credentials file")
	}
	sections, err := parseINI(data)
	if err != nil {
		return "", err
	}
	keys, ok := sections[profile]
	if !ok {
		keys, ok = sections["profile "+profile] // the config file's form
	}
	if !ok {
		return "", fmt.Errorf("has no profile [%s] (it has %s)", profile, sectionNames(sections))
	}
	// A key that is a slip of a known one, or any aws_ key the SDK does
	// not know, fails; other unknown keys (a newer SDK's, a tool's) are
	// only named.
	var slips, ignored []string
	for _, k := range keys.order {
		if slices.Contains(knownKeys, k) {
			continue
		}
		if near := nearest(k); near != "" || strings.HasPrefix(k, "aws_") {
			slips = append(slips, describeUnknown(k, keys.line[k], near))
		} else {
			ignored = append(ignored, k)
		}
	}
	if len(slips) > 0 {
		return "", fmt.Errorf("profile [%s] has %s, which no AWS SDK reads", profile, strings.Join(slips, "; "))
	}
	note := ""
	if len(ignored) > 0 {
		note = "; ignored: " + strings.Join(ignored, ", ")
	}
	_, id := keys.line["aws_access_key_id"]
	_, secret := keys.line["aws_secret_access_key"]
	switch {
	case id && !secret:
		return "", fmt.Errorf("profile [%s] has aws_access_key_id but no aws_secret_access_key", profile)
	case secret && !id:
		return "", fmt.Errorf("profile [%s] has aws_secret_access_key but no aws_access_key_id", profile)
	case id:
		return fmt.Sprintf("profile [%s]: static keys (%s)%s", profile, strings.Join(keys.order, ", "), note), nil
	}
	for _, k := range credentialSources {
		if _, ok := keys.line[k]; ok {
			return fmt.Sprintf("profile [%s]: credentials from %s (%s)%s", profile, k, strings.Join(keys.order, ", "), note), nil
		}
	}
	return "", fmt.Errorf("profile [%s] names no credentials: no aws_access_key_id/aws_secret_access_key, role_arn, credential_process, web_identity_token_file or sso_*", profile)
}

type iniSection struct {
	order []string       // keys in file order
	line  map[string]int // line number of each key
}

// parseINI reads the INI form the SDK reads: [section] lines, key = value
// lines, # and ; comments, and indented lines that continue a nested
// value (s3 =\n  max_concurrent_requests = 10).
func parseINI(data []byte) (map[string]*iniSection, error) {
	sections := map[string]*iniSection{}
	var cur *iniSection
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxCredentialsFile)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d opens a [section] it does not close", n)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			if sections[name] == nil {
				sections[name] = &iniSection{line: map[string]int{}}
			}
			cur = sections[name]
			continue
		case raw[0] == ' ' || raw[0] == '\t':
			continue // a nested value's line
		}
		key, _, found := strings.Cut(line, "=")
		if !found {
			return nil, fmt.Errorf("line %d is not `key = value` (nor a [section] or a comment)", n)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d sets %q before any [profile] line", n, strings.TrimSpace(key))
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if _, dup := cur.line[key]; !dup {
			cur.order = append(cur.order, key)
		}
		cur.line[key] = n
	}
	return sections, sc.Err()
}

// nearest is the known key that key is a slip of (a few edits for its
// length, a known key cut short or run on, or one with a word left out), "" when there is none.
func nearest(key string) string {
	best, bestDist := "", min(3, len(key)/3)+1
	for _, k := range knownKeys {
		d := suggest.EditDistance(key, k)
		if len(key) >= 8 && (strings.HasPrefix(k, key) || strings.HasPrefix(key, k) || wordsWithin(key, k)) {
			d = min(d, 3)
		}
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// wordsWithin is true when every _-separated word of key is one of k's:
// aws_secret_key is aws_secret_access_key with a word left out.
func wordsWithin(key, k string) bool {
	have := strings.Split(k, "_")
	for _, w := range strings.Split(key, "_") {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// describeUnknown names an unknown key with its line and the known key
// it is likely meant to be.
func describeUnknown(key string, line int, near string) string {
	if near == "" {
		return fmt.Sprintf("unknown key %q (line %d)", key, line)
	}
	return fmt.Sprintf("unknown key %q (line %d; did you mean %q?)", key, line, near)
}

func sectionNames(s map[string]*iniSection) string {
	if len(s) == 0 {
		return "none"
	}
	var names []string
	for n := range s {
		names = append(names, "["+n+"]")
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
