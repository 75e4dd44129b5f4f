package testenv

import (
	"fmt"
	"os"
)

// T is what the helpers here need of a test; *testing.T and *testing.B
// have it, and so does Script for the demo and bench programs.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	FailNow()
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}

// Script is a T for programs: a fatal error prints, runs the cleanups
// (stopping every server started) and exits 1.
type Script struct {
	cleanups []func()
	failed   bool
}

// Helper does nothing: a program has no test frames to hide.
func (*Script) Helper() {}

// Fatal prints args, cleans up and exits.
func (s *Script) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }

// Fatalf prints, cleans up and exits.
func (s *Script) Fatalf(format string, args ...any) {
	s.failed = true
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
	s.Close()
	os.Exit(1)
}

// Errorf prints and marks the script failed; Close exits 1 then.
func (s *Script) Errorf(format string, args ...any) {
	s.failed = true
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
}

// FailNow cleans up and exits 1.
func (s *Script) FailNow() { s.Fatalf("stopped") }

// Logf prints a line.
func (*Script) Logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// Cleanup registers f to run at Close, last registered first.
func (s *Script) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// TempDir makes a folder removed at Close.
func (s *Script) TempDir() string {
	d, err := os.MkdirTemp("", "s3csi-")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Failed reports whether Fatal was called.
func (s *Script) Failed() bool { return s.failed }

// Close runs the cleanups.
func (s *Script) Close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}
