package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// JSONLines keeps the host logger's JSON lines (the plugin's lines reach the
// host over the plugin's stderr and are logged there); set
// S3CSI_COMPAT_HOSTLOG=1 to see them on stderr.
type JSONLines struct {
	mu    sync.Mutex
	part  []byte
	lines []map[string]any
}

// echoHostLog copies the host's log lines to stderr (S3CSI_COMPAT_HOSTLOG=1).
var echoHostLog = os.Getenv("S3CSI_COMPAT_HOSTLOG") != ""

// Write is io.Writer, for the host's logger.
func (l *JSONLines) Write(p []byte) (int, error) {
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
// arrive asynchronously) and reports whether one came. The wait only
// bounds a failure: a line that is there is found at once.
func (l *JSONLines) find(match func(m map[string]any) bool) bool {
	return l.count(1, match) >= 1
}

// count waits up to 15 s until at least n lines match and returns how
// many do.
func (l *JSONLines) count(n int, match func(m map[string]any) bool) int {
	deadline := time.Now().Add(15 * time.Second)
	for {
		l.mu.Lock()
		got := 0
		for _, m := range l.lines {
			if match(m) {
				got++
			}
		}
		l.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Text is every line, for a failure message.
func (l *JSONLines) Text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, m := range l.lines {
		line, _ := json.Marshal(m)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
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
