package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Secret holds a value that must never reach a log line: it prints as
// <redacted> through every fmt verb and through encoding.
type Secret []byte

func (Secret) String() string                  { return "<redacted>" }
func (Secret) GoString() string                { return "<redacted>" }
func (Secret) MarshalText() ([]byte, error)    { return []byte("<redacted>"), nil }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte("<redacted>")) }

// valueError is the one shape of every bad-value error: the key, the value,
// where it came from, and why it is wrong.
func valueError(source, key, value, why string) error {
	if secretLooking(value) {
		value = redactedValue(value)
	}
	return fmt.Errorf("invalid value for %q in %s: %q %s", key, source, value, why)
}

// secretLooking reports whether a value holds what looks like a secret
// key, whatever setting it was given for: an age identity
// (AGE-SECRET-KEY-…, any case), or a minisign secret key (its base64
// line starts RWQAAEIy unencrypted, RWRTY0Iy encrypted; its file's
// comment says "secret key"). Such a value is never shown in an error.
func secretLooking(v string) bool {
	u := strings.ToUpper(v)
	return strings.Contains(u, "AGE-SECRET-KEY-") || strings.Contains(u, "SECRET KEY") ||
		strings.Contains(v, "RWQAAEIy") || strings.Contains(v, "RWRTY0Iy")
}

// redactedValue stands for a secret-looking value in an error.
func redactedValue(v string) string {
	what := "a minisign secret key"
	if strings.Contains(strings.ToUpper(v), "AGE-SECRET-KEY-") {
		what = "an age identity (AGE-SECRET-KEY-…)"
	}
	return fmt.Sprintf("<redacted: %d characters holding what looks like %s, which belongs in a Secret, never in the BSL config>", len(v), what)
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("is not a boolean (true or false)")
	}
	return b, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("is not a duration (for example 30s, 5m)")
	}
	if d < 0 {
		return 0, fmt.Errorf("is negative")
	}
	return d, nil
}

func parseInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("is not a whole number")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("is out of range [%d, %d]", lo, hi)
	}
	return n, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1000 * 1000, "mb": 1000 * 1000, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000, "gi": 1 << 30, "gib": 1 << 30,
}

// ParseSize reads a byte size such as 8388608, 8Mi, 8MiB, 16MB or 1Gi.
// K, M, G and KB, MB, GB are decimal; Ki, Mi, Gi (and KiB...) are binary.
func ParseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("is not a size (for example 16Mi, 64MiB, 100MB)")
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		return 0, fmt.Errorf("is not a size (for example 16Mi, 64MiB, 100MB)")
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, fmt.Errorf("is too large")
	}
	return n * mult, nil
}

// parseHTTPURL accepts an absolute http or https URL with a host and no
// user:password (it would be logged with the settings; use credentials).
func parseHTTPURL(v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("is not an http:// or https:// URL with a host")
	}
	if u.User != nil {
		return nil, fmt.Errorf("carries credentials in the URL: put them in the BSL's credential instead")
	}
	return u, nil
}

// shown is how a bad value appears in its error: a long caCert cut
// short, a URL's password redacted, age recipients cut to their start.
func shown(key, v string) string {
	if u, err := url.Parse(strings.TrimSpace(v)); err == nil && u.User != nil {
		v = u.Redacted() // first: a cut could keep the password and lose the "@" that marks it
	}
	if key == "encryptionRecipients" {
		return showRecipients(v)
	}
	if key == "caCert" && len(v) > 40 {
		return v[:40] + "..."
	}
	return v
}

// parseLogLevel accepts Velero's --log-level values.
func parseLogLevel(v string) (string, error) {
	switch l := strings.ToLower(strings.TrimSpace(v)); l {
	case "trace", "debug", "info", "warning", "error":
		return l, nil
	case "warn":
		return "warning", nil
	}
	return "", fmt.Errorf("is not one of trace, debug, info, warning, error")
}
