// Command reliability runs the fault suite through Velero's own plugin
// host against the built plugin binary, real MinIO behind the fault proxy
// and the real GCE PD CSI driver behind the csi-relay, then fuzzes the
// config parsers, and prints one table: what was attempted, verified,
// retried and then verified, failed cleanly, and the figures that must be
// zero (CORRUPT, SHORT-NO-ERROR, orphan uploads and snapshots, hung calls,
// canary hits). `make reliability` runs it; it exits 1 when a must-be-zero
// figure is not zero. REL_UPLOADS, REL_DOWNLOADS, REL_CONCURRENT and
// FUZZTIME make it shorter or longer.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// row is one scenario's figures.
type row struct {
	name                                 string
	attempted, verified, retriedVerified int
	failedCleanly, corrupt, shortNoError int
	orphanUploads, orphanSnapshots, hung int
	undetectable                         int // documented: a truncated stream under a plain key
	note                                 string
}

func (r *row) mustBeZero() int {
	return r.corrupt + r.shortNoError + r.orphanUploads + r.orphanSnapshots + r.hung
}

func main() {
	testenv.ServeIfPluginProcess()
	s := &testenv.Script{}
	defer s.Close()
	start := time.Now()
	env := startS3(s)
	var rows []*row
	run := func(f func() *row) {
		t := time.Now()
		r := f()
		fmt.Printf("done in %6s: %s\n", time.Since(t).Round(100*time.Millisecond), r.name)
		rows = append(rows, r)
	}
	run(func() *row { return env.uploads(envInt("REL_UPLOADS", 50)) })
	run(func() *row { return env.downloads(envInt("REL_DOWNLOADS", 20)) })
	run(env.killThenAvailabilityCheck)
	run(env.killThenBackupDeletion)
	run(env.restartMinIOMidUpload)
	run(env.truncatedStreams)
	run(func() *row { return env.concurrent(envInt("REL_CONCURRENT", 16), 256<<20) })
	run(func() *row { return csiRelayRestarts(s, 10) })
	canaries := env.canaryHits()
	fuzz := runFuzzers(s, envOr("FUZZTIME", "60s"))

	fmt.Printf("\nReliability through Velero v1.18.3's plugin host (%s in all)\n\n", time.Since(start).Round(time.Second))
	fmt.Printf("| %-44s | %9s | %8s | %15s | %13s | %7s | %14s | %13s | %16s | %4s |\n", "scenario", "attempted", "verified",
		"retried, then ok", "failed cleanly", "CORRUPT", "SHORT-NO-ERROR", "orphan uploads", "orphan snapshots", "hung")
	fmt.Println("|" + strings.Repeat("---|", 10))
	bad := 0
	for _, r := range rows {
		fmt.Printf("| %-44s | %9d | %8d | %15d | %13d | %7d | %14d | %13d | %16d | %4d |\n", r.name, r.attempted, r.verified,
			r.retriedVerified, r.failedCleanly, r.corrupt, r.shortNoError, r.orphanUploads, r.orphanSnapshots, r.hung)
		bad += r.mustBeZero()
	}
	fmt.Println()
	for _, r := range rows {
		if r.note != "" {
			fmt.Printf("- %s: %s\n", r.name, r.note)
		}
	}
	fmt.Printf("- canary secrets (secret key, access key ID, signed-URL signature) in %d lines of the host's debug log: %d hits\n", canaries.lines, canaries.hits)
	fmt.Printf("- stalls: %d detected, mean time to detect %s (stallTimeout %s)\n", env.stalls.n, env.stalls.mean().Round(10*time.Millisecond), stallTimeout)
	for _, f := range fuzz {
		fmt.Printf("- fuzz %s: %d execs in %s, %d crashers\n", f.name, f.execs, f.took.Round(time.Second), f.crashers)
		bad += f.crashers + f.failed
	}
	bad += canaries.hits
	if bad > 0 {
		fmt.Printf("\nFAILED: %d must-be-zero figures are not zero\n", bad)
		s.Close()
		os.Exit(1)
	}
	fmt.Println("\nevery must-be-zero figure is zero")
}

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return d
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
