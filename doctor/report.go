package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/internal/finding"
)

// Line is one check's outcome, as printed and as `--output json` gives it.
type Line struct {
	Check string `json:"check"`
	// Result is "pass", "fail" or "note" (neither: what doctor could not
	// check from where it runs, or what it left behind).
	Result string `json:"result"`
	Seen   string `json:"seen,omitempty"`  // pass and note: what was found
	Error  string `json:"error,omitempty"` // fail: what went wrong
	Fix    string `json:"fix,omitempty"`   // fail: what to change
	// Millis is how long the check took, for the test volume's steps.
	Millis int64 `json:"millis,omitempty"`
}

// report collects lines and, in text mode, prints each as it is made so a
// slow check shows where doctor is.
type report struct {
	out   io.Writer // nil: collect only (json)
	timed bool      // print how long each check took
	lines []Line
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
	l := Line{Check: name, Result: "pass", Seen: seen}
	if r.timed {
		l.Millis = max(r.now().Sub(start).Milliseconds(), 1)
	}
	if err != nil {
		l = Line{Check: name, Result: "fail", Error: errorText(err), Fix: finding.FixOf(err), Millis: l.Millis}
	}
	r.add(l)
	return err == nil
}

// Note records a line that neither passes nor fails.
func (r *report) Note(name, text string) { r.add(Line{Check: name, Result: "note", Seen: text}) }

func (r *report) add(l Line) {
	r.lines = append(r.lines, l)
	if r.out != nil {
		printLine(r.out, l)
	}
}

// errorText is what went wrong without the check's name and fix, which
// the line prints on their own.
func errorText(err error) string {
	var f *finding.Failure
	if errors.As(err, &f) && f.Err != nil {
		return f.Err.Error()
	}
	return err.Error()
}

// passed is true when no line failed.
func (r *report) passed() bool {
	for _, l := range r.lines {
		if l.Result == "fail" {
			return false
		}
	}
	return true
}

var marks = map[string]string{"pass": "✓", "fail": "✗", "note": "-"}

func printLine(w io.Writer, l Line) {
	text := l.Seen
	if l.Result == "fail" {
		text = l.Error
	}
	took := ""
	if l.Millis > 0 {
		took = fmt.Sprintf(" (%s)", (time.Duration(l.Millis) * time.Millisecond).String())
	}
	if text != "" {
		text = ": " + oneLine(text)
	}
	fmt.Fprintf(w, "%s %s%s%s\n", marks[l.Result], l.Check, took, text)
	if l.Fix != "" {
		fmt.Fprintf(w, "    fix: %s\n", oneLine(l.Fix))
	}
}

// oneLine keeps a line a line: a server's message may hold newlines.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// summary is the last text line, or the JSON document.
type summary struct {
	Location string `json:"location"` // e.g. "BackupStorageLocation velero/default"
	Provider string `json:"provider"`
	OK       bool   `json:"ok"`
	Checks   []Line `json:"checks"`
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
	failed, checks := 0, 0
	for _, l := range r.lines {
		switch l.Result {
		case "fail":
			failed++
			checks++
		case "pass":
			checks++
		}
	}
	if failed == 0 {
		_, err := fmt.Fprintf(w, "%s: all %d checks passed\n", location, checks)
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %d of %d checks failed\n", location, failed, checks)
	return err
}
