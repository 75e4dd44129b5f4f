package main

import (
	"fmt"
	"io"
	"strings"
)

// row is one release's run.
type row struct {
	rel release
	res result
}

// brokenReason is what go-plugin's host says of a plugin whose handshake
// names another protocol version (v1.6 and v1.7 differ in the case).
const brokenReason = "incompatible api version with plugin"

// printTable prints the matrix, then the broken-handshake check, then
// every failure; it reports whether make compat must fail.
func printTable(w io.Writer, rows, broken []row) (failed bool) {
	fmt.Fprintln(w, "\nVelero host matrix: the built plugin loaded by each release's own pkg/plugin/clientmgmt host")
	fmt.Fprintln(w, "| Velero release | patch | ObjectStore | VolumeSnapshotter | PluginLister |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	var details []string
	for _, r := range rows {
		cells := []cell{r.res.ObjectStore, r.res.VolumeSnapshotter, r.res.PluginLister}
		marks := make([]string, len(cells))
		for i, c := range cells {
			marks[i] = "ok"
			if !c.ok() {
				marks[i], failed = "FAIL", true
				for _, f := range c.Failures {
					details = append(details, fmt.Sprintf("%s %s: %s", r.rel.Velero, []string{"ObjectStore", "VolumeSnapshotter", "PluginLister"}[i], f))
				}
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.rel.Minor, r.rel.Velero, marks[0], marks[1], marks[2])
	}

	fmt.Fprintln(w, "\nThe same hosts on a plugin built with -tags s3csi_broken_handshake (protocol 3): every cell must fail, on the handshake")
	fmt.Fprintln(w, "| Velero release | patch | ObjectStore | VolumeSnapshotter | PluginLister |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range broken {
		cells := []cell{r.res.ObjectStore, r.res.VolumeSnapshotter, r.res.PluginLister}
		marks := make([]string, len(cells))
		for i, c := range cells {
			switch {
			case c.ok():
				marks[i], failed = "PASSED (must fail)", true
				details = append(details, fmt.Sprintf("broken build, %s %s: passed, so the table above proves nothing", r.rel.Velero, []string{"ObjectStore", "VolumeSnapshotter", "PluginLister"}[i]))
			case !strings.Contains(strings.ToLower(strings.Join(c.Failures, " ")), brokenReason):
				marks[i], failed = "failed, not on the handshake", true
				details = append(details, fmt.Sprintf("broken build, %s: failed without %q: %s", r.rel.Velero, brokenReason, strings.Join(c.Failures, "; ")))
			default:
				marks[i] = "failed (as it must)"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.rel.Minor, r.rel.Velero, marks[0], marks[1], marks[2])
	}
	if len(broken) > 0 && len(broken[0].res.PluginLister.Failures) > 0 {
		fmt.Fprintf(w, "(%s's host said: %s)\n", broken[0].rel.Velero, firstLine(broken[0].res.PluginLister.Failures[0]))
	}
	if len(details) > 0 {
		fmt.Fprintln(w, "\nFailures:")
		for _, d := range details {
			fmt.Fprintln(w, "  "+d)
		}
	}
	return failed
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
