package config

import (
	"github.com/sirupsen/logrus"
)

// PluginConfig is the outcome of looking for the plugin's ConfigMap
// (package kube does the looking).
type PluginConfig struct {
	// Layer holds the ConfigMap's data (TunablesOnly); nil when none.
	Layer *Layer
	// Note says what was found, for one log line: Info when Warn is false.
	Note string
	Warn bool
}

// Layers returns the location's config (named location, e.g. "BSL
// config") followed by the plugin ConfigMap's data when there is one.
func Layers(pc PluginConfig, location string, values map[string]string) []Layer {
	layers := []Layer{{Name: location, Values: values}}
	if pc.Layer != nil {
		layers = append(layers, *pc.Layer)
	}
	return layers
}

// Log writes the Init lines: a Warning when the API could not be asked,
// then the one Info line of effective settings, which also says what was
// found. Velero validates a BSL every minute with a fresh Init, so this is
// kept to one line when all is well.
func (pc PluginConfig) Log(log logrus.FieldLogger, settings logrus.Fields, msg string) {
	if pc.Warn {
		log.Warn(pc.Note)
	}
	f := logrus.Fields{"pluginConfig": pc.Note}
	for k, v := range settings {
		f[k] = v
	}
	log.WithFields(f).Info(msg)
}
