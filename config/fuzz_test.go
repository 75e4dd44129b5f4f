package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/sirupsen/logrus"
)

// Fuzzing of ParseObjectStore and ParseSnapshotter. One input is four
// key/value pairs of the location's config and one of the plugin
// ConfigMap, a tunables-only layer behind it. An empty key leaves its pair
// out, an empty ConfigMap key the ConfigMap. The location starts with a
// valid bucket (driver) that a pair may overwrite. A value of a key that
// names a file the parser reads (fileKeys) is, when it starts with "@", the
// content of a file the harness writes; any other such value must name no
// existing file (the parser would open /dev/zero or a FIFO): skipped.
//
// Beyond "no panic", every input keeps the package's contract:
//   - parsing twice gives the same result or error and changes no input;
//   - an error names a key of the input and its layer (unknown, not
//     allowed there, bad value shown as given), is the missing required
//     key, or is one of the documented combinations of keys in the input;
//   - a URL's password in the input appears in no error and no settings;
//   - on success, Fields renders through logrus; the SSE-C key shows as
//     <redacted>, and a different key changes neither Fields nor %#v;
//     Origin names the winning layer of each key, earlier layers win as if
//     merged into one, and every setting is in its range.
//
//	go test -run '^$' -fuzz '^FuzzObjectStoreConfig$' -fuzztime 60s ./config/
//	go test -run '^$' -fuzz '^FuzzSnapshotterConfig$' -fuzztime 60s ./config/

type fuzzResult struct {
	value  any // *ObjectStore or *Snapshotter
	bare   any // the struct without Origin
	fields logrus.Fields
	origin map[string]string
}

// combo is a documented error about a combination of keys: at least one
// key of each group is in the input.
type combo struct {
	re   *regexp.Regexp
	need [][]string
}

type fuzzTarget struct {
	location, configMap string
	base                [2]string       // the required key and a valid value
	fileKeys            map[string]bool // keys whose value the parser opens as a file
	valid               func(key string) bool
	parse               func([]Layer) (fuzzResult, error)
	combos              []combo
	check               func(t *testing.T, r fuzzResult, eff map[string]string, files map[string][]byte)
}

// fuzzInput holds the fuzz arguments: k1, v1 ... k4, v4, cmKey, cmValue.
type fuzzInput [10]string

func (tg fuzzTarget) run(t *testing.T, dir string, in fuzzInput) {
	files := map[string][]byte{}
	values := func(kv []string, tunablesOnly bool) map[string]string {
		m := map[string]string{}
		if !tunablesOnly {
			m[tg.base[0]] = tg.base[1]
		}
		for i := 0; i+1 < len(kv); i += 2 {
			k, v := kv[i], kv[i+1]
			if k == "" {
				continue
			}
			if tg.fileKeys[k] && strings.HasPrefix(v, "@") {
				p := filepath.Join(dir, fmt.Sprintf("%t-%s", tunablesOnly, k))
				files[p] = []byte(v[1:])
				v = p
			} else if tg.fileKeys[k] {
				if _, err := os.Lstat(v); err == nil {
					t.Skipf("%s=%q names an existing file", k, v)
				}
			}
			m[k] = v
		}
		return m
	}
	pc := PluginConfig{}
	if in[8] != "" {
		pc.Layer = &Layer{Name: tg.configMap, Values: values(in[8:], true), TunablesOnly: true}
	}
	layers := Layers(pc, tg.location, values(in[:8], false))
	write := func(flip byte) {
		for p, data := range files {
			for i := range data {
				data[i] ^= flip
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0)

	input := cloneLayers(layers)
	r, err := tg.parse(layers)
	r2, err2 := tg.parse(cloneLayers(input))
	if !reflect.DeepEqual(layers, input) {
		t.Fatalf("parse changed its input")
	}
	if !sameError(err, err2) || !reflect.DeepEqual(r, r2) {
		t.Fatalf("not deterministic:\n%v\n%v\n%#v\n%#v", err, err2, r.value, r2.value)
	}
	if err != nil {
		tg.checkError(t, err.Error(), layers)
		tg.checkPasswords(t, err.Error(), layers, nil)
	} else {
		tg.checkSuccess(t, r, layers, files)
	}
	if len(files) > 0 { // the content of a file changes no text
		write(0x5a)
		r3, err3 := tg.parse(layers)
		if !sameError(err, err3) || (err == nil && (!reflect.DeepEqual(r.fields, r3.fields) ||
			fmt.Sprintf("%#v %+v %v", r.bare, r.bare, r.bare) != fmt.Sprintf("%#v %+v %v", r3.bare, r3.bare, r3.bare))) {
			t.Fatalf("a file's content shows:\n%v\n%v\n%v\n%v", err, err3, r.fields, r3.fields)
		}
		if err3 == nil {
			tg.check(t, r3, effective(layers), files)
		}
	}
}

func cloneLayers(layers []Layer) []Layer {
	out := slices.Clone(layers)
	for i := range out {
		out[i].Values = maps.Clone(out[i].Values)
	}
	return out
}

// effective is the winning value of each key: earlier layers win.
func effective(layers []Layer) map[string]string {
	eff := map[string]string{}
	for i := len(layers) - 1; i >= 0; i-- {
		maps.Copy(eff, layers[i].Values)
	}
	return eff
}

// sameError compares the errors of two parses of one input.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// checkError holds an error to its documented shapes.
func (tg fuzzTarget) checkError(t *testing.T, msg string, layers []Layer) {
	if strings.Contains(strings.ToUpper(msg), "AGE-SECRET-KEY-1") {
		t.Fatalf("an error shows an age identity: %s", msg)
	}
	for _, l := range layers {
		for k, v := range l.Values {
			if strings.HasPrefix(msg, fmt.Sprintf("unknown key %q in %s; valid keys are ", k, l.Name)) {
				if tg.valid(k) {
					t.Fatalf("valid key called unknown: %s", msg)
				}
				return
			}
			if strings.HasPrefix(msg, fmt.Sprintf("key %q is not allowed in %s: ", k, l.Name)) {
				if !l.TunablesOnly || !tg.valid(k) || tunables[k] {
					t.Fatalf("refused a key a layer may hold: %s", msg)
				}
				return
			}
			if rest, ok := strings.CutPrefix(msg, fmt.Sprintf("invalid value for %q in %s: ", k, l.Name)); ok {
				q, err := strconv.QuotedPrefix(rest)
				if err != nil || !tg.valid(k) || (l.TunablesOnly && !tunables[k]) {
					t.Fatalf("bad-value error without its value, or for a key not taken there: %s", msg)
				}
				if got, _ := strconv.Unquote(q); got != wantShown(k, v) {
					t.Fatalf("error shows %q for value %q, want %q: %s", got, v, wantShown(k, v), msg)
				}
				return
			}
		}
	}
	if strings.HasPrefix(msg, fmt.Sprintf("missing required key %q", tg.base[0])) {
		if strings.TrimSpace(effective(layers)[tg.base[0]]) != "" {
			t.Fatalf("%s, but it is set", msg)
		}
		return
	}
	eff := effective(layers)
	for _, c := range tg.combos {
		if !c.re.MatchString(msg) {
			continue
		}
		for _, group := range c.need {
			if !slices.ContainsFunc(group, func(k string) bool { _, ok := eff[k]; return ok }) {
				t.Fatalf("error names keys the input lacks (%v): %s", group, msg)
			}
		}
		return
	}
	t.Fatalf("error names no key of the input and is no documented combination: %s", msg)
}

// wantShown is how an error shows a bad value: as given, with a URL's
// password redacted, a long caCert cut short, and anything that looks
// like an age or minisign secret key replaced by what it looks like.
func wantShown(key, v string) string {
	v = wantShownPlain(key, v)
	switch u := strings.ToUpper(v); {
	case strings.Contains(u, "AGE-SECRET-KEY-"):
		return fmt.Sprintf("<redacted: %d characters holding what looks like an age identity (AGE-SECRET-KEY-…), which belongs in a Secret, never in the BSL config>", len(v))
	case strings.Contains(u, "SECRET KEY"), strings.Contains(v, "RWQAAEIy"), strings.Contains(v, "RWRTY0Iy"):
		return fmt.Sprintf("<redacted: %d characters holding what looks like a minisign secret key, which belongs in a Secret, never in the BSL config>", len(v))
	}
	return v
}

// wantShownPlain is wantShown before a secret-looking value is redacted.
func wantShownPlain(key, v string) string {
	if u, err := url.Parse(strings.TrimSpace(v)); err == nil && u.User != nil {
		v = u.Redacted()
	}
	if key == "caCert" && len(v) > 40 {
		return v[:40] + "..."
	}
	if key == "encryptionRecipients" { // each entry's first 8 bytes: never a secret key's material
		var cut []string
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); len(e) > 8 {
				e = e[:8] + "…"
			}
			cut = append(cut, e)
		}
		return strings.Join(cut, ",")
	}
	return v
}

// urlPassword is the password of v as written, when v is a URL with
// user:password: between the userinfo's first ':' and its last '@'.
func urlPassword(v string) string {
	v = strings.TrimSpace(v)
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return ""
	}
	_, authority, _ := strings.Cut(v, "//")
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(authority[:at], ":")
	return pw
}

// checkPasswords: no password of a URL-valued input shows in text (an error,
// or with keys set the settings of those keys), unless the text holds it
// without the password too (a host of the same name, a word of a message).
func (tg fuzzTarget) checkPasswords(t *testing.T, text string, layers []Layer, keys map[string]bool) {
	for i, l := range layers {
		for k, v := range l.Values {
			pw := urlPassword(v)
			if len(pw) < 4 || (keys != nil && !keys[k]) {
				continue
			}
			if !strings.Contains(text, pw) {
				continue
			}
			without := cloneLayers(layers)
			without[i].Values[k] = strings.Replace(v, ":"+pw+"@", "@", 1)
			again := ""
			if r, err := tg.parse(without); err != nil {
				again = err.Error()
			} else if keys != nil {
				again = fmt.Sprint(r.fields)
			}
			if !strings.Contains(again, pw) {
				t.Fatalf("the password of %s=%q shows: %s", k, v, text)
			}
		}
	}
}

func (tg fuzzTarget) checkSuccess(t *testing.T, r fuzzResult, layers []Layer, files map[string][]byte) {
	for k, v := range r.fields {
		if s, ok := v.(string); !ok || s == "" {
			t.Fatalf("Fields[%s] = %#v, want a non-empty string", k, v)
		}
	}
	entry := logrus.NewEntry(logrus.New()).WithFields(r.fields)
	for _, f := range []logrus.Formatter{&logrus.TextFormatter{DisableColors: true}, &logrus.JSONFormatter{}} {
		if _, err := f.Format(entry); err != nil {
			t.Fatalf("Fields do not render: %v", err)
		}
	}
	tg.checkPasswords(t, fmt.Sprint(r.fields), layers, map[string]bool{"s3Url": true, "publicUrl": true, "stsUrl": true, "endpoint": true})
	want := map[string]string{}
	for i := len(layers) - 1; i >= 0; i-- {
		for k := range layers[i].Values {
			want[k] = layers[i].Name
		}
	}
	if !maps.Equal(r.origin, want) {
		t.Fatalf("Origin = %v, want %v", r.origin, want)
	}
	if len(layers) > 1 { // earlier layers win: as if merged into one
		merged, err := tg.parse([]Layer{{Name: tg.location, Values: effective(layers)}})
		if err != nil || !reflect.DeepEqual(merged.bare, r.bare) {
			t.Fatalf("the layers differ from their merge: %v\n%#v\n%#v", err, r.bare, merged.bare)
		}
	}
	tg.check(t, r, effective(layers), files)
}

var objectStoreTarget = fuzzTarget{
	location: "BSL config", configMap: "ConfigMap velero/s3compat-config",
	base:     [2]string{"bucket", "velero"},
	fileKeys: map[string]bool{"credentialsFile": true, "customerKeyEncryptionFile": true},
	valid:    func(k string) bool { _, _, ok := objectStoreKeys.find(k); return ok },
	parse: func(layers []Layer) (fuzzResult, error) {
		o, err := ParseObjectStore(layers...)
		if err != nil {
			return fuzzResult{}, err
		}
		bare := *o
		bare.Origin = nil
		return fuzzResult{value: o, bare: bare, fields: o.Fields(), origin: o.Origin}, nil
	},
	combos: []combo{
		{regexp.MustCompile(`^(roleSessionName|externalId|stsUrl) is set in (BSL config|ConfigMap velero/s3compat-config) but roleArn is not: `),
			[][]string{{"roleSessionName", "externalId", "stsUrl"}}},
		{regexp.MustCompile(`^kmsKeyId needs serverSideEncryption aws:kms, not "AES256"$`), [][]string{{"kmsKeyId"}, {"serverSideEncryption"}}},
		{regexp.MustCompile(`^customerKeyEncryptionFile and customerKeyEncryptionSecret both name an SSE-C key: set one$`),
			[][]string{{"customerKeyEncryptionFile"}, {"customerKeyEncryptionSecret"}}},
		{regexp.MustCompile(`^an SSE-C key \(customerKeyEncryptionFile or customerKeyEncryptionSecret\) cannot be combined with kmsKeyId or serverSideEncryption$`),
			[][]string{{"customerKeyEncryptionFile", "customerKeyEncryptionSecret"}, {"kmsKeyId", "serverSideEncryption"}}},
		{regexp.MustCompile(`^objectLockMode (GOVERNANCE|COMPLIANCE) needs objectLockRetention \(for example 720h\): set both or neither$`), [][]string{{"objectLockMode"}}},
		{regexp.MustCompile(`^encryptionIdentitySecret and encryptionIdentityFile both name the age identity: set one$`),
			[][]string{{"encryptionIdentitySecret"}, {"encryptionIdentityFile"}}},
		{regexp.MustCompile(`^signingKeySecret and signingKeyFile both name the minisign secret key: set one$`),
			[][]string{{"signingKeySecret"}, {"signingKeyFile"}}},
		{regexp.MustCompile(`^requireSignatures is true, but no key could check a signature: `), [][]string{{"requireSignatures"}}},
		{regexp.MustCompile(`^encryptionScope says which objects are encrypted, but encryptionRecipients names no age public key to encrypt them to$`),
			[][]string{{"encryptionScope"}}},
		{regexp.MustCompile(`^objectLockRetention needs objectLockMode \(GOVERNANCE or COMPLIANCE\): set both or neither$`), [][]string{{"objectLockRetention"}}},
		{regexp.MustCompile(`^objectLockMode needs a checksum on every upload .* but checksumAlgorithm is "" in (BSL config|ConfigMap velero/s3compat-config): remove it or choose one of `),
			[][]string{{"objectLockMode"}, {"objectLockRetention"}, {"checksumAlgorithm"}}},
	},
	check: func(t *testing.T, r fuzzResult, eff map[string]string, files map[string][]byte) {
		o := r.value.(*ObjectStore)
		for _, u := range []string{o.S3URL, o.PublicURL} {
			if p, err := url.Parse(u); u != "" && (err != nil || p.User != nil || p.Host == "" || strings.HasSuffix(u, "/")) {
				t.Fatalf("URL %q kept", u)
			}
		}
		if o.PartSize < MinPartSize || o.PartSize > MaxPartSize || o.Concurrency < 1 || o.Concurrency > 64 || o.MaxRetries < 0 || o.MaxRetries > 20 ||
			o.RequestTimeout <= 0 || o.StallTimeout <= 0 || o.ProgressInterval < 0 || o.StaleUploadAge < 0 || !slices.Contains(ChecksumAlgorithms, o.ChecksumAlgorithm) ||
			o.MemoryBudget < MinMemoryBudget || !filepath.IsAbs(o.SpoolPath()) {
			t.Fatalf("a setting out of range: %+v", o)
		}
		if !slices.Contains(ObjectLockModes, o.ObjectLockMode) || (o.ObjectLockMode == "") != (o.ObjectLockRetention == 0) ||
			o.ObjectLockRetention < 0 || o.ObjectLockRetention > MaxLockRetention || (o.ObjectLockMode != "" && o.ChecksumAlgorithm == "") {
			t.Fatalf("Object Lock settings out of range: mode %q, retention %s, checksum %q", o.ObjectLockMode, o.ObjectLockRetention, o.ChecksumAlgorithm)
		}
		if want, ok := files[eff["customerKeyEncryptionFile"]]; ok && string(o.CustomerKey) != string(want) {
			t.Fatalf("SSE-C key is not the file's content")
		}
		if s, _ := r.fields["sseCustomerKey"].(string); (len(o.CustomerKey) > 0) != strings.HasPrefix(s, "<redacted> (") {
			t.Fatalf("sseCustomerKey = %q for a key of %d bytes", s, len(o.CustomerKey))
		}
		if len(o.EncryptionIdentities) > 0 || (o.EncryptionScope != ScopeBackupContents && o.EncryptionScope != ScopeAllGzip) ||
			strings.Contains(fmt.Sprint(r.fields), "AGE-SECRET-KEY") {
			t.Fatalf("encryption settings out of range: %d identities, scope %q, fields %v", len(o.EncryptionIdentities), o.EncryptionScope, r.fields)
		}
		for _, rc := range o.EncryptionRecipients {
			if again, err := age.ParseX25519Recipient(rc.String()); err != nil || again.String() != rc.String() {
				t.Fatalf("recipient %s does not parse back: %v", rc, err)
			}
		}
	},
}

var snapshotterTarget = fuzzTarget{
	location: "VSL config", configMap: "ConfigMap velero/csi-config",
	base: [2]string{"driver", "d.example.io"},
	valid: func(k string) bool {
		_, _, ok := snapshotterKeys.find(k) // credentialsFile too, to be refused by name: errVSLCredential
		return ok
	},
	parse: func(layers []Layer) (fuzzResult, error) {
		s, err := ParseSnapshotter(layers...)
		if err != nil {
			return fuzzResult{}, err
		}
		bare := *s
		bare.Origin = nil
		return fuzzResult{value: s, bare: bare, fields: s.Fields(), origin: s.Origin}, nil
	},
	combos: []combo{
		{regexp.MustCompile(`^snapshotterSecretName and snapshotterSecretNamespace go together: set both or neither$`),
			[][]string{{"snapshotterSecretName", "snapshotterSecretNamespace"}}},
		{regexp.MustCompile(`^endpoint unix://.+ is a unix socket: the tls\* keys apply only to a tcp:// or dns:/// endpoint \(a csi-relay\)$`),
			[][]string{{"tlsSecretName", "tlsSecretNamespace", "tlsCASecretName", "tlsCertFile", "tlsKeyFile", "tlsCAFile", "tlsServerName"}}},
		{regexp.MustCompile(`^tlsCASecretName ".*" goes with tlsSecretName \(it is read in tlsSecretNamespace\); with files, tlsCAFile names the relay's CA$`),
			[][]string{{"endpoint"}, {"tlsCASecretName"}}},
		{regexp.MustCompile(`^endpoint .+: set tlsSecretName/tlsSecretNamespace or tlsCertFile/tlsKeyFile/tlsCAFile, not both$`),
			[][]string{{"endpoint"}, {"tlsSecretName", "tlsSecretNamespace"}, {"tlsCertFile", "tlsKeyFile", "tlsCAFile"}}},
		{regexp.MustCompile(`^tlsSecretName and tlsSecretNamespace go together: set both$`), [][]string{{"endpoint"}, {"tlsSecretName", "tlsSecretNamespace"}}},
		{regexp.MustCompile(`^tlsCertFile, tlsKeyFile and tlsCAFile go together: set all three$`),
			[][]string{{"endpoint"}, {"tlsCertFile", "tlsKeyFile", "tlsCAFile"}}},
		{regexp.MustCompile(`^endpoint .+ is a network address, and plain TCP is refused: `), [][]string{{"endpoint"}}},
	},
	check: func(t *testing.T, r fuzzResult, eff map[string]string, _ map[string][]byte) {
		s := r.value.(*Snapshotter)
		if s.OperationTimeout <= 0 || s.DialTimeout <= 0 || s.SnapshotReadyTimeout <= 0 || s.PollInterval <= 0 || s.MaxRetries < 0 || s.MaxRetries > 20 {
			t.Fatalf("a setting out of range: %+v", s)
		}
		if again, err := parseEndpoint(s.Endpoint); err != nil || again != s.Endpoint {
			t.Fatalf("endpoint %q parses to %q, %v", s.Endpoint, again, err)
		}
		if u, err := url.Parse(s.Endpoint); err == nil && u.User != nil {
			t.Fatalf("endpoint %q keeps a user", s.Endpoint)
		}
		secret, files := s.TLSSecretName != "" && s.TLSSecretNamespace != "", s.TLSCertFile != "" && s.TLSKeyFile != "" && s.TLSCAFile != ""
		if s.Network() != (secret != files) || (!s.Network() && !strings.HasPrefix(s.Endpoint, "unix:///")) {
			t.Fatalf("endpoint %q with TLS from Secret %t, files %t", s.Endpoint, secret, files)
		}
		for k, v := range eff {
			if name, ok := strings.CutPrefix(k, "parameters."); ok && s.SnapshotParameters[name] != v {
				t.Fatalf("%s=%q lost", k, v)
			}
			if name, ok := strings.CutPrefix(k, "restoreParameters."); ok && s.RestoreParameters[name] != v {
				t.Fatalf("%s=%q lost", k, v)
			}
		}
	},
}

// tunables are the keys a plugin ConfigMap may set, of either provider.
var tunables = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range objectStoreKeys {
		m[k.Name] = m[k.Name] || k.Where == InConfigMapToo
	}
	for _, k := range snapshotterKeys {
		m[k.Name] = m[k.Name] || k.Where == InConfigMapToo
	}
	return m
}()

// addSeeds adds each seed value as the first pair and, for a tunable, as
// the ConfigMap's pair; every key the parser takes must have one.
func addSeeds(f *testing.F, keys []string, seeds map[string][]string) {
	for _, k := range keys {
		k = strings.Replace(k, "<name>", "type", 1)
		if len(seeds[k]) == 0 {
			f.Fatalf("key %s has no fuzz seed", k)
		}
		for _, v := range seeds[k] {
			f.Add(k, v, "", "", "", "", "", "", "", "")
			if tunables[k] {
				f.Add("", "", "", "", "", "", "", "", k, v)
			}
		}
	}
}

// minisignSecretLine is the base64 line of a (throwaway) minisign -G -W
// secret key: pasted into a BSL key, it must never show in an error.
const minisignSecretLine = "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAdYBzAnJKQ6uPCs3g+JgOiC4Ng/4qVfbJ6erxf/EmPLKWte3CfEkFnmJJcfNO4WDW2D5Vm9vV8TlhakMME+sABzad2b+tyhc2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func FuzzObjectStoreConfig(f *testing.F) {
	addSeeds(f, ObjectStoreKeys(), map[string][]string{
		"bucket": {"velero", " "}, "prefix": {"cluster-a/"}, "region": {"us-west-2", ""}, "profile": {"backup"}, "kmsKeyId": {"alias/velero"},
		"s3Url":                       {"http://localhost:9000/", "minio:9000", "http://AKIAEXAMPLE:sk-very-secret@minio:9000", "http://user@minio:9000"},
		"publicUrl":                   {"https://public.example", "ftp://x", "https://u:pa55word@public.example"},
		"s3ForcePathStyle":            {"true", "yes please"},
		"insecureSkipTLSVerify":       {"false", "2"},
		"caCert":                      {realPEM, base64.StdEncoding.EncodeToString([]byte(realPEM)), testPEM, "not a cert", ""},
		"credentialsFile":             {"@[default]\naws_access_key_id=a\naws_secret_access_key=b\n", "/nonexistent/creds"},
		"serverSideEncryption":        {"AES256", "aws:kms:dsse", "AES128"},
		"customerKeyEncryptionFile":   {"@0123456789abcdef0123456789abcdef", "@short", "/nonexistent/key"},
		"customerKeyEncryptionSecret": {"sse/key", "no-slash", "a/b/c"},
		"tagging":                     {"team=backup&env=prod", "a=1;b", "=v", "a=" + strings.Repeat("v", 257)},
		"checksumAlgorithm":           {"md5", "CRC64NVME", "CRC16", ""},
		"objectLockMode":              {"GOVERNANCE", "compliance", "", "LEGAL"},
		"objectLockRetention":         {"720h", "30d", "0s", "876001h"},
		"signatureVersion":            {"4", "2"},
		"enableSharedConfig":          {"true", "maybe"},
		"multipartPartSize":           {"16Mi", "64MiB", "10MB", "12XB", "1Mi", "6Gi", "99999999999999999999"},
		"multipartConcurrency":        {"16", "0", "65"},
		"requestTimeout":              {"30s", "soon", "0s"},
		"stallTimeout":                {"10m", "-1s"},
		"maxRetries":                  {"0", "21", "many"},
		"progressInterval":            {"0s", "1.5s"},
		"staleUploadAge":              {"24h", "1y"},
		"logLevel":                    {"Debug", "warn", "loud"},
		"memoryBudget":                {"48Mi", "10Mi", "9Mi", "lots"},
		"spoolDir":                    {"/scratch", "", "scratch"},
		"encryptionRecipients": {"age1nv6aupsg8m04698cj2w6cu49n0wanhdq497mackxjfm89sg3eyws6w96p5",
			"age1nv6aupsg8m04698cj2w6cu49n0wanhdq497mackxjfm89sg3eyws6w96p5,age1yux90y49fwf5dvddyg2kewvehcqrtne8t323nq7vmpdthhpvy5gqswgsdt",
			"AGE-SECRET-KEY-1VXP5YT5XM33WER046XXC44W4NSFNHZPFDN5Y4PYUARK8EAGQKS2SDH2XS4", "age1,", ""},
		"encryptionScope": {"allGzip", "backupcontents", "all"},
		"storageClass":    {"STANDARD_IA", "glacier", "DEEP_ARCHIVE", "COLD", ""},
		"roleArn":         {"arn:aws:iam::123456789012:role/velero", "arn:minio:iam:::role/x", "arn:aws:iam::123456789012:user/bob", ""},
		"roleSessionName": {"velero-a", "x", "has space"},
		"externalId":      {"d1b9-4c2e-8f00", "a b", ""},
		"stsUrl":          {"https://sts.us-east-1.amazonaws.com", "sts", "https://u:pa55word@sts.example"},
		"encryptionIdentitySecret": {"age/key.txt", "age", "AGE-SECRET-KEY-1VXP5YT5XM33WER046XXC44W4NSFNHZPFDN5Y4PYUARK8EAGQKS2SDH2XS4",
			"age-secret-key-1vxp5yt5xm33wer046xxc44w4nsfnhzpfdn5y4pyuark8eagqks2sdh2xs4"},
		"signingKeySecret":       {"minisign/key", "minisign", minisignSecretLine},
		"signingKeyFile":         {"/keys/minisign.key", "minisign.key", ""},
		"verifyPublicKeys":       {"RWR1gHMCckpDq2JJcfNO4WDW2D5Vm9vV8TlhakMME+sABzad2b+tyhc2", "RWR1gHMCckpDq2JJcfNO4WDW2D5Vm9vV8TlhakMME+sABzad2b+tyhc2,RWQ", "", minisignSecretLine},
		"requireSignatures":      {"true", "false", "always"},
		"encryptionIdentityFile": {"/keys/age.txt", "age.txt", ""},
	})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3, k4, v4, cmKey, cmValue string) {
		objectStoreTarget.run(t, dir, fuzzInput{k1, v1, k2, v2, k3, v3, k4, v4, cmKey, cmValue})
	})
}

func FuzzSnapshotterConfig(f *testing.F) {
	addSeeds(f, SnapshotterKeys(), map[string][]string{
		"driver": {"d.example.io", " "},
		"endpoint": {"unix:///run/csi.sock", "unix:/run/csi.sock", "unix://relative.sock", "tcp://relay.kube-system.svc:8443", "tcp://relay", "tcp://[::1]:8443",
			"dns:///relay:8443", "dns://8.8.8.8/relay:8443", "https://relay:8443", "tcp://admin:pw-secret@relay:8443"},
		"tlsSecretName": {"relay-tls", ""}, "tlsSecretNamespace": {"velero"}, "tlsCASecretName": {"relay-ca"}, "tlsServerName": {"relay.test"},
		"tlsCertFile": {"/tls/tls.crt", "a.crt"}, "tlsKeyFile": {"/tls/tls.key"}, "tlsCAFile": {"/tls/ca.crt"},
		"snapshotterSecretName": {"csi-secret"}, "snapshotterSecretNamespace": {"kube-system"},
		"parameters.type": {"snap"}, "restoreParameters.type": {"pd-ssd"},
		"operationTimeout": {"1m", "0s"}, "dialTimeout": {"10s", "soon"}, "snapshotReadyTimeout": {"1h"}, "pollInterval": {"2s", "-1s"},
		"maxRetries": {"3", "21"}, "logLevel": {"info", "loud"},
		"topologyMap":     {"topology.gke.io/zone: us-central1-a=us-east1-b, us-central1-c=us-east1-c", "zone: a=b, a=c", "a=b", "k: =", ";"},
		"topologyZoneKey": {"topology.gke.io/zone", "zone key", ""},
	})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3, k4, v4, cmKey, cmValue string) {
		snapshotterTarget.run(t, "", fuzzInput{k1, v1, k2, v2, k3, v3, k4, v4, cmKey, cmValue})
	})
}
