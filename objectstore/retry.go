package objectstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sirupsen/logrus"

	"example.io/velero-plugin-s3csi/internal/backoff"
)

// retryWait is the one wait between attempts: the SDK's own retries of
// small requests use it, and so do the store's retries of parts, single
// puts and download ranges. With maxRetries 5 the waits add up to about
// 30 s, so a server that restarts in less survives.
var retryWait = backoff.Policy{Initial: time.Second, Max: 20 * time.Second, Multiplier: 2, Jitter: 0.2}

// sdkBackoff gives the SDK's retryer the delays of p: attempt 1 waits the
// first delay, attempt 2 the second, and so on.
func sdkBackoff(p backoff.Policy) retry.BackoffDelayer {
	return retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
		b := p.Start()
		d := b.Next()
		for i := 1; i < attempt; i++ {
			d = b.Next()
		}
		return d, nil
	})
}

// oneAttempt turns off the SDK's retries for a request that the store
// retries itself, so each attempt is seen, counted and logged here.
func oneAttempt(o *s3.Options) { o.Retryer = aws.NopRetryer{} }

// retryCause is why an attempt failed, as far as retrying goes.
type retryCause int

const (
	permanent retryCause = iota
	causeStall
	causeReset
	causeServer
	causeThrottled
	numCauses
)

// String is the cause as logged in the cause field.
func (c retryCause) String() string {
	return [...]string{"permanent", "stall", "reset", "5xx", "throttled"}[c]
}

// classify says whether err is worth another attempt, and why.
func classify(err error) retryCause {
	switch kind(err) {
	case ErrStalled:
		return causeStall
	case ErrConnection:
		return causeReset
	case ErrServer:
		return causeServer
	case ErrThrottled:
		return causeThrottled
	}
	return permanent
}

// tally counts the failed attempts by cause.
type tally [numCauses]int64

// tallyKeys name the counts, in log fields and in errors.
var tallyKeys = [numCauses]string{"", "stalls", "resets", "5xx", "throttled"}

func (t tally) String() string {
	return fmt.Sprintf("%s %d, %s %d, %s %d, %s %d", tallyKeys[1], t[1], tallyKeys[2], t[2], tallyKeys[3], t[3], tallyKeys[4], t[4])
}

func (t tally) total() (n int64) {
	for _, v := range t {
		n += v
	}
	return n
}

// fields are the counts as log fields: stalls, resets, 5xx, throttled.
func (t tally) fields() logrus.Fields {
	f := logrus.Fields{}
	for c := causeStall; c < numCauses; c++ {
		f[tallyKeys[c]] = t[c]
	}
	return f
}

// tries follows the attempts of one unit of work: a part, a single put,
// or the ranges of one download. After a stall, a broken connection, a
// 5xx or throttling the unit is tried again on a new connection, up to
// MaxRetries times, waiting retryWait between attempts; any other error
// ends it at once. Not safe for concurrent use: one unit, one goroutine.
type tries struct {
	log    logrus.FieldLogger
	tr     *transfer
	unit   string
	max    int
	wait   *backoff.Backoff
	failed int
	met    tally
}

func (s *Store) newTries(log logrus.FieldLogger, tr *transfer, unit string) *tries {
	return &tries{log: log, tr: tr, unit: unit, max: s.cfg.MaxRetries, wait: retryWait.Start()}
}

// do runs attempt until it succeeds or again says to stop.
func (t *tries) do(ctx context.Context, attempt func() error) error {
	for {
		err := attempt()
		if err == nil {
			t.succeeded(nil)
			return nil
		}
		if err = t.again(ctx, err, nil); err != nil {
			return err
		}
	}
}

// again takes the error of a failed attempt. When another attempt may
// follow it logs the retry, waits its turn and returns nil; otherwise it
// returns the error to end with: the attempt's own, or after the last
// retry one that says how many attempts met which causes.
func (t *tries) again(ctx context.Context, err error, at logrus.Fields) error {
	c := classify(err)
	if c == permanent || ctx.Err() != nil {
		return err
	}
	t.failed++
	t.met[c]++
	t.tr.met(c)
	if t.failed > t.max {
		return fmt.Errorf("gave up after %d attempts (%s): %w", t.failed, t.met, mark(err))
	}
	t.log.WithError(err).WithFields(at).WithFields(logrus.Fields{
		"unit": t.unit, "cause": c.String(), "attempt": t.failed,
	}).Info("retrying after a transient failure")
	if !t.wait.Wait(ctx) {
		return err // the transfer ended meanwhile; its own error says why
	}
	return nil
}

// succeeded logs a unit that needed more than one attempt.
func (t *tries) succeeded(at logrus.Fields) {
	if t.failed == 0 {
		return
	}
	t.log.WithFields(at).WithFields(t.met.fields()).WithFields(logrus.Fields{
		"unit": t.unit, "attempts": t.failed + 1,
	}).Info("succeeded after retrying")
}
