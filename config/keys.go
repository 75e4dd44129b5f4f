package config

//go:generate go test . -run ^TestKeyDocs$ -count=1 -args -update

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/internal/suggest"
)

// Every key of a provider is declared once, in one table of Key
// (objectstore_keys.go, snapshotter_keys.go): its name, where it may be
// set, its type, default, limits and help, how it is parsed and how the
// settings line shows it. Parsing, the unknown-key error, the settings
// line, doctor's "config parses" line and the key tables of
// docs/backupstoragelocation.md and docs/volumesnapshotlocation.md all
// come from these tables (keys_doc_test.go checks the docs).

// Where says which layers may set a key.
type Where int

const (
	// InLocation keys say where the data goes and with which
	// credentials: only the BSL's or VSL's config sets them.
	InLocation Where = iota
	// InConfigMapToo keys say how the plugin works: the plugin ConfigMap
	// may set them too, below the location's config.
	InConfigMapToo
)

// Key declares one configuration key of T (ObjectStore or Snapshotter).
type Key[T any] struct {
	Name string
	// Prefix marks a family of keys: every Name.<name> is taken, and
	// SetNamed gets <name> and the value.
	Prefix bool
	// Spec names the field of the location's spec that Velero copies
	// into the config under Name ("" for a key users write in config).
	Spec  string
	Where Where
	// Hidden keys are never documented nor offered: Velero adds them,
	// and Set says what to do instead.
	Hidden bool

	Type string // what the value is, in a few words
	// Default is the value Set is given before any layer ("": none).
	Default string
	// DefaultDoc is how the docs show a default that is not Default
	// (one that depends on other keys); "" shows Default.
	DefaultDoc string
	Limits     string // the values taken, in a few words ("" for any)
	Help       string // one line

	Set      func(t *T, v string) error
	SetNamed func(t *T, name, v string) error // Prefix keys
	// Show is the value the settings line shows ("value (origin)"), or
	// false to leave the key off it; nil: never shown under its name.
	Show func(t *T) (any, bool)
}

// display is the key as users write it.
func (k Key[T]) display() string {
	if k.Prefix {
		return k.Name + ".<name>"
	}
	return k.Name
}

// origin says where the key was set: for a Prefix key, the sources of
// all its keys.
func (k Key[T]) origin(origin map[string]string) (string, bool) {
	if !k.Prefix {
		from, ok := origin[k.Name]
		return from, ok
	}
	var froms []string
	for name, from := range origin {
		if strings.HasPrefix(name, k.Name+".") && !slices.Contains(froms, from) {
			froms = append(froms, from)
		}
	}
	slices.Sort(froms)
	return strings.Join(froms, " and "), len(froms) > 0
}

// keyTable is one provider's keys.
type keyTable[T any] []Key[T]

// find returns the key that takes name, and for a Prefix key the part
// after its prefix.
func (tab keyTable[T]) find(name string) (*Key[T], string, bool) {
	for i := range tab {
		k := &tab[i]
		if !k.Prefix && k.Name == name {
			return k, "", true
		}
		if rest, ok := strings.CutPrefix(name, k.Name+"."); k.Prefix && ok && rest != "" {
			return k, rest, true
		}
	}
	return nil, "", false
}

// names lists the keys users may write, sorted (Prefix keys as
// name.<name>).
func (tab keyTable[T]) names() []string {
	var out []string
	for _, k := range tab {
		if !k.Hidden {
			out = append(out, k.display())
		}
	}
	slices.Sort(out)
	return out
}

// defaults sets every key's Default onto t.
func (tab keyTable[T]) defaults(t *T) {
	for _, k := range tab {
		if k.Default == "" {
			continue
		}
		if err := k.Set(t, k.Default); err != nil {
			panic(fmt.Sprintf("config: default %q of %s %v", k.Default, k.Name, err)) // keys_test.go proves it never does
		}
	}
}

// parse sets every key of the layers onto t, the last layer first so that
// earlier layers overwrite, keys in order. It refuses unknown keys and
// location keys in a tunables-only layer, names the source, key and value
// of a bad value, and records in origin where each key came from.
func (tab keyTable[T]) parse(t *T, layers []Layer, origin map[string]string) error {
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		for _, name := range slices.Sorted(maps.Keys(l.Values)) {
			k, rest, ok := tab.find(name)
			if !ok {
				return tab.unknown(name, l.Name)
			}
			if l.TunablesOnly && k.Where != InConfigMapToo {
				return fmt.Errorf("key %q is not allowed in %s: it belongs in the location's config; the ConfigMap takes only run-time settings", name, l.Name)
			}
			var err error
			if k.Prefix {
				err = k.SetNamed(t, rest, l.Values[name])
			} else {
				err = k.Set(t, l.Values[name])
			}
			if err != nil {
				return valueError(l.Name, name, shown(name, l.Values[name]), err.Error())
			}
			origin[name] = l.Name
		}
	}
	return nil
}

// unknown is the error for a key no entry takes: the valid keys, and the
// one meant when the name is a near miss of one.
func (tab keyTable[T]) unknown(name, source string) error {
	msg := fmt.Sprintf("unknown key %q in %s; valid keys are %s", name, source, strings.Join(tab.names(), ", "))
	if s := tab.suggest(name); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return fmt.Errorf("%s", msg)
}

// suggest returns the key name is most likely a misspelling of: the same
// letters in another case, else one within two edits; "" when none is.
func (tab keyTable[T]) suggest(name string) string {
	best, bestDist := "", 3
	for _, k := range tab {
		if k.Hidden {
			continue
		}
		cand := k.Name
		if k.Prefix {
			if p, _, ok := strings.Cut(name, "."); ok && strings.EqualFold(p, k.Name) {
				return k.display()
			}
			continue
		}
		if strings.EqualFold(cand, name) {
			return cand
		}
		if d := suggest.EditDistance(strings.ToLower(cand), strings.ToLower(name)); d < bestDist {
			best, bestDist = cand, d
		}
	}
	return best
}

// fields is the settings line of t: every shown key's value and where it
// came from.
func (tab keyTable[T]) fields(t *T, origin map[string]string) map[string]any {
	f := map[string]any{}
	for _, k := range tab {
		if k.Show == nil {
			continue
		}
		if v, ok := k.Show(t); ok {
			from, set := k.origin(origin)
			if !set {
				from = "default"
			}
			f[k.Name] = fmt.Sprintf("%v (%s)", v, from)
		}
	}
	return f
}

// setKeys lists the keys that were set, sorted, each as the settings line
// f shows it (secrets masked): doctor's "config parses" line.
func (tab keyTable[T]) setKeys(f map[string]any, origin map[string]string) string {
	var parts []string
	for _, k := range tab {
		if _, set := k.origin(origin); !set {
			continue
		}
		if v, shown := f[k.Name]; shown {
			parts = append(parts, fmt.Sprintf("%s=%v", k.Name, v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Builders of the common kinds: each sets Type, Limits, Set and Show from
// one declaration of the field and its bounds.

// intKey takes a whole number in [lo, hi].
func intKey[T any](k Key[T], lo, hi int, field func(*T) *int) Key[T] {
	k.Type, k.Limits = "integer", fmt.Sprintf("%d..%d", lo, hi)
	k.Set = func(t *T, v string) (err error) {
		*field(t), err = parseInt(v, lo, hi)
		return err
	}
	k.Show = func(t *T) (any, bool) { return *field(t), true }
	return k
}

// durationKey takes a Go duration, above zero, or from zero when zeroOff
// (zero then turns the feature off).
func durationKey[T any](k Key[T], zeroOff bool, field func(*T) *time.Duration) Key[T] {
	k.Type, k.Limits = "duration", "above 0"
	k.Set = func(t *T, v string) error { return positiveDuration(field(t), v) }
	if zeroOff {
		k.Limits = "0 or more; 0 turns it off"
		k.Set = func(t *T, v string) (err error) {
			*field(t), err = parseDuration(v)
			return err
		}
	}
	k.Show = func(t *T) (any, bool) { return *field(t), true }
	return k
}

// boolKey takes true or false.
func boolKey[T any](k Key[T], field func(*T) *bool) Key[T] {
	k.Type = "boolean"
	k.Set = func(t *T, v string) (err error) {
		*field(t), err = parseBool(v)
		return err
	}
	k.Show = func(t *T) (any, bool) { return *field(t), true }
	return k
}

// logLevelKey takes Velero's --log-level values.
func logLevelKey[T any](field func(*T) *string) Key[T] {
	return Key[T]{
		Name: "logLevel", Where: InConfigMapToo, Type: "log level",
		DefaultDoc: "Velero's --log-level", Limits: "trace, debug, info, warning, error",
		Help: "The least the plugin logs; raises its level above Velero's for debugging (docs/configuration.md).",
		Set: func(t *T, v string) (err error) {
			*field(t), err = parseLogLevel(v)
			return err
		},
		Show: func(t *T) (any, bool) { return orNone(*field(t), "Velero's --log-level"), true },
	}
}

// shownIf shows v when cond holds.
func shownIf(cond bool, v any) (any, bool) { return v, cond }

// always shows v.
func always(v any) (any, bool) { return v, true }

// keyDoc is one row of a provider's key table in the docs.
type keyDoc struct {
	Key, Where, Type, Default, Limits, Help string
}

// docs lists the documented keys in the table's order, which groups them.
func (tab keyTable[T]) docs(location string) []keyDoc {
	var out []keyDoc
	for _, k := range tab {
		if k.Hidden {
			continue
		}
		where := location + " config"
		switch {
		case k.Spec != "":
			where = location + " " + k.Spec
		case k.Where == InConfigMapToo:
			where = location + " config or ConfigMap"
		}
		def := k.DefaultDoc
		if def == "" {
			def = k.Default
		}
		if def == "" {
			def = "none"
		}
		out = append(out, keyDoc{Key: k.display(), Where: where, Type: k.Type, Default: def, Limits: k.Limits, Help: k.Help})
	}
	return out
}

// keysMarkdown renders rows as a Markdown table.
func keysMarkdown(rows []keyDoc) string {
	cell := func(s string) string {
		if s == "" {
			return ""
		}
		return strings.NewReplacer("|", `\|`, "<", `\<`).Replace(s)
	}
	code := func(s string) string { return "`" + s + "`" }
	var b strings.Builder
	b.WriteString("| Key | Where | Type | Default | Limits | What it does |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", code(r.Key), cell(r.Where), cell(r.Type), cell(r.Default), cell(r.Limits), cell(r.Help))
	}
	return b.String()
}
