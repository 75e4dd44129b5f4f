package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/conformance"
)

// A host is no test binary: conformance.RunCases runs the cases as `go
// test` runs subtests. Each failure in the table names its case, a fatal
// one ends only its case, and a panic is a failure, not a crash.
func TestCaseFailuresNameTheirCase(t *testing.T) {
	var ran []string
	cases := []conformance.Case{
		{Name: "green", Run: func(t conformance.T) {
			ran = append(ran, "green")
			assert.True(t, true)
		}},
		{Name: "fatal", Run: func(t conformance.T) {
			ran = append(ran, "fatal")
			require.Equal(t, 1, 2, "first")
			ran = append(ran, "after FailNow")
		}},
		{Name: "two errors", Run: func(t conformance.T) {
			ran = append(ran, "two errors")
			assert.Equal(t, "a", "b")
			assert.Len(t, []int{1}, 3)
		}},
		{Name: "panics", Run: func(t conformance.T) {
			ran = append(ran, "panics")
			var m map[string]int
			m["x"] = 1
		}},
	}
	failures := conformance.RunCases(cases)
	assert.Equal(t, []string{"green", "fatal", "two errors", "panics"}, ran, "every case runs, in order; FailNow ends its case only")
	require.Len(t, failures, 4, "%q", failures)
	assert.Regexp(t, `^fatal: Error: Not equal: expected: 1 actual *: 2 .*Messages: first$`, failures[0])
	assert.Regexp(t, `^two errors: Error: Not equal: expected: "a" actual *: "b"`, failures[1])
	assert.Regexp(t, `^two errors: Error: "\[1\]" should have 3 item\(s\), but has 1`, failures[2])
	assert.Regexp(t, `^panics: panic: assignment to entry in nil map$`, failures[3])
	for _, f := range failures {
		assert.NotContains(t, f, ".go:", "testify's Error Trace is left out of the table")
		assert.NotContains(t, f, "\n", "one line a failure")
	}
}
