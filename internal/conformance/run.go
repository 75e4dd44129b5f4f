package conformance

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
)

// T is what a case uses of *testing.T, which satisfies it: `make test`
// runs each case as a subtest. A host of `make compat` is no test binary;
// RunCases gives it one of its own.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// Case is one named case of the suite. Cases run in order, and a later
// case may read what an earlier one wrote.
type Case struct {
	Name string
	Run  func(t T)
}

// RunCases runs cases in order, each to its end or to its first fatal
// failure, as `go test` runs subtests, and returns every failure prefixed
// with the name of its case.
func RunCases(cases []Case) (failures []string) {
	for _, c := range cases {
		r := &recorder{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if p := recover(); p != nil {
					r.Errorf("panic: %v", p)
				}
			}()
			c.Run(r)
		}()
		<-done
		for _, f := range r.failures {
			failures = append(failures, c.Name+": "+f)
		}
	}
	return failures
}

// recorder is the T of a case outside `go test`: FailNow ends the case's
// goroutine, as testing.T's does.
type recorder struct {
	mu       sync.Mutex
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, compact(fmt.Sprintf(format, args...)))
}

func (r *recorder) FailNow() { runtime.Goexit() }

// goLine is a line of testify's Error Trace: "Error Trace:\t/path/x.go:12"
// and the file:line lines under it.
var goLine = regexp.MustCompile(`^(Error Trace:\s*)?\S+\.(go|s):\d+$`)

// compact folds testify's multi-line report onto one line for the table's
// failure list, dropping its stack of source lines.
func compact(msg string) string {
	var keep []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || goLine.MatchString(l) {
			continue
		}
		keep = append(keep, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(keep, " ")
}
