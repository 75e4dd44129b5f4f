package veleroplugin

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/sirupsen/logrus"
)

// newLogger is the logger a plugin logs through: JSON lines on stderr in
// the form Velero's host reads from its plugins (go-plugin takes a JSON
// line as an hclog entry: the text in @message, the level in @level; the
// other fields become the host's fields).
func newLogger() *logrus.Logger {
	log := logrus.New()
	log.Out = os.Stderr // never stdout: go-plugin's handshake is written there
	log.Formatter = &logrus.JSONFormatter{
		FieldMap:         logrus.FieldMap{logrus.FieldKeyMsg: "@message"},
		DisableTimestamp: true, // the host stamps the line
	}
	log.AddHook(hostFields{})
	return log
}

// hostFields adds what Velero's framework adds to a plugin's line:
//   - @level, the level in hclog's words ("warn", not "warning");
//   - logSource, the file and line that logged, with @logSourceSetBy so
//     that the host keeps it instead of naming its own adapter.
type hostFields struct{}

func (hostFields) Levels() []logrus.Level { return logrus.AllLevels }

func (hostFields) Fire(e *logrus.Entry) error {
	level := e.Level.String()
	if e.Level == logrus.WarnLevel {
		level = "warn"
	}
	e.Data["@level"] = level
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.Contains(f.File, "github.com/sirupsen/logrus") {
			e.Data["logSource"] = fmt.Sprintf("%s:%d", f.File, f.Line)
			e.Data["@logSourceSetBy"] = "plugin"
			break
		}
		if !more {
			break
		}
	}
	return nil
}
