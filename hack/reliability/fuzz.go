package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

type fuzzResult struct {
	name             string
	execs            int64
	crashers, failed int
	took             time.Duration
}

var execsLine = regexp.MustCompile(`fuzz: elapsed: .*, execs: (\d+) `)

// runFuzzers runs each fuzz target (the config parsers, the age stream
// read path and header look, the signature and trusted-comment parsers)
// for d with `go test -fuzz`.
func runFuzzers(s *testenv.Script, d string) []fuzzResult {
	var out []fuzzResult
	for _, t := range []struct{ name, pkg string }{
		{"FuzzObjectStoreConfig", "./config/"}, {"FuzzSnapshotterConfig", "./config/"}, {"FuzzDecrypt", "./internal/agestream/"},
		{"FuzzPeekHeader", "./internal/agestream/"},
		{"FuzzParseSignature", "./internal/minisig/"}, {"FuzzParseComment", "./internal/minisig/"},
	} {
		name := t.name
		start := time.Now()
		cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+name+"$", "-fuzztime", d, t.pkg)
		cmd.Dir = testenv.RepoRoot()
		b, err := cmd.CombinedOutput()
		text := string(b)
		res := fuzzResult{name: name, took: time.Since(start)}
		if m := execsLine.FindAllStringSubmatch(text, -1); len(m) > 0 {
			res.execs, _ = strconv.ParseInt(m[len(m)-1][1], 10, 64)
		}
		res.crashers = strings.Count(text, "Failing input written to testdata/fuzz/")
		if err != nil && res.crashers == 0 {
			res.failed = 1
			fmt.Printf("fuzz %s failed:\n%s\n", name, testenv.Tail(b, 4096))
		} else if res.crashers > 0 {
			fmt.Printf("fuzz %s found a crasher:\n%s\n", name, testenv.Tail(b, 4096))
		}
		out = append(out, res)
	}
	return out
}
