package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"example.io/velero-plugin-s3csi/internal/finding"
)

// report collects lines and, in text mode, prints each as it is made so a
// slow check shows where doctor is.
type report struct {
	out   io.Writer // nil: collect only (json)
	timed bool      // print how long each check took
	lines []finding.Line
	now   func() time.Time
}

var _ finding.Reporter = (*report)(nil)

func newReport(out io.Writer, text, timed bool) *report {
	r := &report{timed: timed, now: time.Now}
	if text {
		r.out = out
	}
	return r
}

// Check runs fn and records its line.
func (r *report) Check(name string, fn func() (string, error)) bool {
	start := r.now()
	seen, err := fn()
	l := finding.Outcome(name, seen, err)
	if r.timed {
		l.Millis = max(r.now().Sub(start).Milliseconds(), 1)
	}
	r.add(l)
	return err == nil
}

// Note records a line that neither passes nor fails.
func (r *report) Note(name, text string) { r.add(finding.Note(name, text)) }

func (r *report) add(l finding.Line) {
	r.lines = append(r.lines, l)
	if r.out != nil {
		finding.Print(r.out, "", l)
	}
}

// passed is true when no line failed.
func (r *report) passed() bool { return finding.Passed(r.lines) }

// summary is the last text line, or the JSON document.
type summary struct {
	Location string         `json:"location"` // e.g. "BackupStorageLocation velero/default"
	Provider string         `json:"provider"`
	OK       bool           `json:"ok"`
	Checks   []finding.Line `json:"checks"`
}

func (r *report) summary(loc location) summary {
	return summary{Location: loc.String(), Provider: loc.provider, OK: r.passed(), Checks: r.lines}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// finish prints the text report's last line.
func (r *report) finish(w io.Writer, location string) error {
	failed, checks := finding.Counts(r.lines)
	if failed == 0 {
		_, err := fmt.Fprintf(w, "%s: all %d checks passed\n", location, checks)
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %d of %d checks failed\n", location, failed, checks)
	return err
}
