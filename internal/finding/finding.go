// Package finding is the shape a check's outcome takes, shared by the
// providers' Init errors and the doctor's lines: what was checked, what
// was found and, when it failed, the fix. It lets objectstore and
// snapshotter run their checks for either caller without importing doctor.
package finding

import (
	"errors"
	"fmt"
)

// Failure is a check that did not pass. Its text is the doctor's ✗ line
// and the error Init returns, so a user reads the same words in
// `velero backup-location get` and in `velero-plugin-s3csi doctor`.
type Failure struct {
	Check string // what was checked, e.g. `bucket "b" exists`; "": the error says it
	Err   error  // what was found
	Fix   string // what to change: the key, the permission, the command; "" when there is nothing to say
}

// Fail builds a Failure; fix is a format for args.
func Fail(check string, err error, fix string, args ...any) *Failure {
	if len(args) > 0 {
		fix = fmt.Sprintf(fix, args...)
	}
	return &Failure{Check: check, Err: err, Fix: fix}
}

func (f *Failure) Error() string {
	msg := f.Err.Error()
	if f.Check != "" {
		msg = f.Check + ": " + msg
	}
	if f.Fix != "" {
		msg += "; fix: " + f.Fix
	}
	return msg
}

func (f *Failure) Unwrap() error { return f.Err }

// FixOf is the fix that err carries, "" when it carries none.
func FixOf(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Fix
	}
	return ""
}

// WithFix adds a fix to err, which says itself what failed: the
// providers' request errors get the fix the doctor's line would give.
func WithFix(err error, fix string, args ...any) error {
	if err == nil || FixOf(err) != "" {
		return err
	}
	return Fail("", err, fix, args...)
}

// Reporter runs named checks in order. Check calls fn, records its outcome
// under name, and says whether it passed; fn returns what it saw (for the
// ✓ line) or an error, a *Failure when it knows the fix.
type Reporter interface {
	Check(name string, fn func() (seen string, err error)) bool
	// Note records a line that is neither pass nor fail: what doctor
	// could not check from where it runs, or what it left behind.
	Note(name, text string)
}
