package cases

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Logs keeps the host logger's JSON lines (the plugin's lines reach the
// host over the plugin's stderr and are logged there); set
// S3CSI_COMPAT_HOSTLOG=1 to see them on stderr.
type Logs struct {
	mu    sync.Mutex
	part  []byte
	lines []map[string]any
}

// echoHostLog copies the host's log lines to stderr (S3CSI_COMPAT_HOSTLOG=1).
var echoHostLog = os.Getenv("S3CSI_COMPAT_HOSTLOG") != ""

// Write is io.Writer, for the host's logger.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if echoHostLog {
		os.Stderr.Write(p)
	}
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		var m map[string]any
		if json.Unmarshal(l.part[:i], &m) == nil {
			l.lines = append(l.lines, m)
		}
		l.part = l.part[i+1:]
	}
}

// find waits up to 15 s for a line that match accepts (plugin lines
// arrive asynchronously) and returns it, or nil. The wait only bounds a
// failure: a line that is there is found at once.
func (l *Logs) find(match func(m map[string]any) bool) map[string]any {
	deadline := time.Now().Add(15 * time.Second)
	for {
		l.mu.Lock()
		var found map[string]any
		for _, m := range l.lines {
			if match(m) {
				found = m
				break
			}
		}
		l.mu.Unlock()
		if found != nil || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// line matches a host line by level and the start of its message, and by
// fields when given.
func line(level, msg string, fields map[string]string) func(m map[string]any) bool {
	return func(m map[string]any) bool {
		text, _ := m["msg"].(string)
		if m["level"] != level || !strings.HasPrefix(text, msg) {
			return false
		}
		for k, v := range fields {
			if fmt.Sprint(m[k]) != v {
				return false
			}
		}
		return true
	}
}
