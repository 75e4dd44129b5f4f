// Package logging lets a plugin ConfigMap's logLevel raise what the plugin
// logs above Velero's --log-level, for debugging one plugin.
package logging

import (
	"sync"

	"github.com/sirupsen/logrus"
)

var state struct {
	sync.Mutex
	host    logrus.Level // the level Velero's --log-level set; -1 until known
	loggers map[*logrus.Logger]bool
	known   bool
}

// Apply sets the plugin process's log level to level ("" restores
// Velero's). Velero's host drops lines below its own --log-level, so the
// lines the override adds are sent at the host's level, with the field
// pluginLogLevel naming their real one.
func Apply(log logrus.FieldLogger, level string) {
	l := loggerOf(log)
	if l == nil {
		return
	}
	state.Lock()
	defer state.Unlock()
	if !state.known {
		state.host, state.known = l.GetLevel(), true
		state.loggers = map[*logrus.Logger]bool{}
	}
	want := state.host
	if level != "" {
		if parsed, err := logrus.ParseLevel(level); err == nil && parsed > want {
			want = parsed
		}
	}
	l.SetLevel(want)
	if !state.loggers[l] {
		state.loggers[l] = true
		l.AddHook(promote{})
	}
}

func loggerOf(log logrus.FieldLogger) *logrus.Logger {
	switch l := log.(type) {
	case *logrus.Logger:
		return l
	case *logrus.Entry:
		return l.Logger
	}
	return nil
}

// promote lifts lines below the host's level up to it.
type promote struct{}

func (promote) Levels() []logrus.Level { return []logrus.Level{logrus.DebugLevel, logrus.TraceLevel} }

func (promote) Fire(e *logrus.Entry) error {
	state.Lock()
	host := state.host
	state.Unlock()
	if e.Level <= host {
		return nil
	}
	e.Data["pluginLogLevel"] = e.Level.String()
	e.Level = host
	name := host.String()
	if host == logrus.WarnLevel {
		name = "warn" // hclog's word, as Velero's own hook writes it
	}
	e.Data["@level"] = name
	return nil
}
