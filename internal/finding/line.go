package finding

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Line is one check's outcome as doctor and verify print it and as their
// `--output json` gives it.
type Line struct {
	Check string `json:"check"`
	// Result is "pass", "fail" or "note" (neither: what could not be
	// checked from where the command runs, or what it left behind).
	Result string `json:"result"`
	Seen   string `json:"seen,omitempty"`  // pass and note: what was found
	Error  string `json:"error,omitempty"` // fail: what went wrong
	Fix    string `json:"fix,omitempty"`   // fail: what to change
	// Millis is how long the check took, where the command times its
	// checks (doctor's test volume).
	Millis int64 `json:"millis,omitempty"`
}

// Outcome is the line of a check named name that saw seen, or failed
// with err: err's words without the check's name and fix, which the line
// carries on their own.
func Outcome(name, seen string, err error) Line {
	if err == nil {
		return Line{Check: name, Result: "pass", Seen: seen}
	}
	text := err.Error()
	var f *Failure
	if errors.As(err, &f) && f.Err != nil {
		text = f.Err.Error()
	}
	return Line{Check: name, Result: "fail", Error: text, Fix: FixOf(err)}
}

// Note is a line that neither passes nor fails.
func Note(name, text string) Line { return Line{Check: name, Result: "note", Seen: text} }

// Counts are the lines that failed and the lines judged (passed or
// failed), notes aside.
func Counts(lines []Line) (failed, judged int) {
	for _, l := range lines {
		switch l.Result {
		case "fail":
			failed++
			judged++
		case "pass":
			judged++
		}
	}
	return failed, judged
}

// Passed is true when no line failed.
func Passed(lines []Line) bool {
	failed, _ := Counts(lines)
	return failed == 0
}

var marks = map[string]string{"pass": "✓", "fail": "✗", "note": "-"}

// Print writes l as one text line after indent (✓, ✗ or -, the check,
// how long it took when timed, what was seen or the error) and its fix on
// the next.
func Print(w io.Writer, indent string, l Line) {
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
	fmt.Fprintf(w, "%s%s %s%s%s\n", indent, marks[l.Result], l.Check, took, text)
	if l.Fix != "" {
		fmt.Fprintf(w, "%s    fix: %s\n", indent, oneLine(l.Fix))
	}
}

// oneLine keeps a line a line: a server's message may hold newlines.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
