package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/internal/finding"
)

// backupResult is one backup's checks.
type backupResult struct {
	Backup string `json:"backup"`
	Phase  string `json:"phase,omitempty"`
	OK     bool   `json:"ok"`
	// Unfinished: the backup is still being written (Velero's phase is
	// InProgress, WaitingForPluginOperations or Finalizing); not judged.
	Unfinished bool           `json:"unfinished,omitempty"`
	Checks     []finding.Line `json:"checks"`
}

// locationResult is one BSL's backups.
type locationResult struct {
	Location string         `json:"location"`
	Bucket   string         `json:"bucket,omitempty"`
	Prefix   string         `json:"prefix,omitempty"`
	OK       bool           `json:"ok"`
	Checks   []finding.Line `json:"checks,omitempty"` // the location's own: opening it, listing it
	Backups  []backupResult `json:"backups"`
}

// result is the JSON document.
type result struct {
	Namespace string           `json:"namespace,omitempty"`
	OK        bool             `json:"ok"`
	Locations []locationResult `json:"locations"`
	// Skipped are the namespace's BSLs of other providers (--all).
	Skipped []string `json:"skipped,omitempty"`
}

// checks collects the lines of a backup or a location, printing each as
// it is made in text mode.
type checks struct {
	p      *printer
	indent string
	lines  []finding.Line
}

// check runs fn and records its line: its text, or its error and fix.
func (c *checks) check(name string, fn func() (string, error)) bool {
	seen, err := fn()
	c.add(finding.Outcome(name, seen, err))
	return err == nil
}

// note records a line that neither passes nor fails.
func (c *checks) note(name, text string) { c.add(finding.Note(name, text)) }

// fail records a failed line.
func (c *checks) fail(name string, err error) { c.add(finding.Outcome(name, "", err)) }

func (c *checks) add(l finding.Line) {
	c.lines = append(c.lines, l)
	if c.p.text {
		finding.Print(c.p.w, c.indent, l)
	}
}

func (c *checks) passed() bool { return finding.Passed(c.lines) }

// printer writes the text report as it goes, or the JSON at the end.
type printer struct {
	w    io.Writer
	text bool
}

func newPrinter(w io.Writer, text bool) *printer { return &printer{w: w, text: text} }

func (p *printer) printf(format string, args ...any) {
	if p.text {
		fmt.Fprintf(p.w, format, args...)
	}
}

// backupDone prints a backup's last line.
func (p *printer) backupDone(b *backupResult, c *checks) {
	failed, judged := finding.Counts(c.lines)
	switch {
	case b.Unfinished:
		p.printf("backup %s: not finished (phase %s), not verified\n", b.Backup, b.Phase)
	case failed == 0:
		p.printf("backup %s: all %d checks passed\n", b.Backup, judged)
	default:
		p.printf("backup %s: %d of %d checks failed\n", b.Backup, failed, judged)
	}
}

// locationDone prints a location's last line.
func (p *printer) locationDone(l *locationResult) {
	failed, unfinished := 0, 0
	for _, b := range l.Backups {
		switch {
		case b.Unfinished:
			unfinished++
		case !b.OK:
			failed++
		}
	}
	open := ""
	if unfinished > 0 {
		open = fmt.Sprintf(", %d not finished", unfinished)
	}
	switch {
	case len(l.Checks) > 0 && !l.OK && len(l.Backups) == 0:
		p.printf("%s: not verified\n", l.Location)
	default:
		p.printf("%s: %d backups, %d passed, %d failed%s\n", l.Location, len(l.Backups), len(l.Backups)-failed-unfinished, failed, open)
	}
}

// finish ends the report: the JSON document, or with --all the last line.
func (p *printer) finish(res result) error {
	if !p.text {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if len(res.Locations) < 2 && len(res.Skipped) == 0 {
		return nil
	}
	failed := 0
	for _, l := range res.Locations {
		if !l.OK {
			failed++
		}
	}
	_, err := fmt.Fprintf(p.w, "\n%d locations verified in namespace %s: %d passed, %d failed%s\n",
		len(res.Locations), res.Namespace, len(res.Locations)-failed, failed, skippedText(res.Skipped))
	return err
}

func skippedText(skipped []string) string {
	if len(skipped) == 0 {
		return ""
	}
	return "; not this plugin's, so not verified: " + strings.Join(skipped, ", ")
}

// progress prints a long read's progress on stderr: bytes, and MB/s.
type progress struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time
}

// reader counts what r gives of name (size bytes stored, 0 when not
// known) and prints a line every p.every; done prints the last.
func (p *progress) reader(name string, size int64, r io.Reader) *progressReader {
	now := p.now()
	return &progressReader{p: p, name: name, size: size, r: r, start: now, last: now}
}

type progressReader struct {
	p           *progress
	name        string
	size, n     int64
	r           io.Reader
	start, last time.Time
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.n += int64(n)
	if now := pr.p.now(); now.Sub(pr.last) >= pr.p.every {
		pr.last = now
		of := ""
		if pr.size > 0 {
			of = fmt.Sprintf(" of %s (%d%%)", mib(pr.size), pr.n*100/pr.size)
		}
		fmt.Fprintf(pr.p.w, "verify: reading %s: %s%s, %s\n", pr.name, mib(pr.n), of, rate(pr.n, now.Sub(pr.start)))
	}
	return n, err
}

// done prints how much was read, in how long.
func (pr *progressReader) done() {
	took := pr.p.now().Sub(pr.start)
	fmt.Fprintf(pr.p.w, "verify: read %s: %s in %s, %s\n", pr.name, mib(pr.n), took.Round(time.Millisecond), rate(pr.n, took))
}

// size is a size in a report's line: bytes, or MiB from 1 MiB on.
func size(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return mib(n)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "- MB/s"
	}
	return fmt.Sprintf("%.1f MB/s", float64(n)/1e6/d.Seconds())
}
