package objectstore

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// transfer follows one upload or download: it counts bytes (logged as
// strings: the host's JSON decoding would print numbers as 6.4e+07) and
// retried attempts by cause, logs a progress line every ProgressInterval,
// and hands out the stall timers of its steps.
type transfer struct {
	log      logrus.FieldLogger
	what     string
	start    time.Time
	bytes    atomic.Int64
	retried  [numCauses]atomic.Int64
	stall    time.Duration
	every    time.Duration
	stopOnce sync.Once
	stopped  chan struct{}
	mu       sync.Mutex
	ticker   *time.Timer // the next progress line; no goroutine waits for it
}

func startTransfer(log logrus.FieldLogger, what string, every, stall time.Duration) *transfer {
	t := &transfer{log: log, what: what, start: time.Now(), stall: stall, every: every, stopped: make(chan struct{})}
	if every > 0 {
		t.mu.Lock()
		t.ticker = time.AfterFunc(every, t.report)
		t.mu.Unlock()
	}
	return t
}

func (t *transfer) add(n int) { t.bytes.Add(int64(n)) }

// met counts one failed attempt that is retried (or given up on).
func (t *transfer) met(c retryCause) { t.retried[c].Add(1) }

// retries are the transfer's failed attempts by cause so far.
func (t *transfer) retries() tally {
	var r tally
	for c := range t.retried {
		r[c] = t.retried[c].Load()
	}
	return r
}

func (t *transfer) rate() (int64, float64) {
	n := t.bytes.Load()
	secs := time.Since(t.start).Seconds()
	if secs <= 0 {
		return n, 0
	}
	return n, float64(n) / secs / 1e6
}

// report logs a progress line and sets the timer for the next, until
// finish.
func (t *transfer) report() {
	select {
	case <-t.stopped:
		return
	default:
	}
	n, mbps := t.rate()
	t.log.WithFields(logrus.Fields{"bytes": strconv.FormatInt(n, 10), "MBps": fmt.Sprintf("%.1f", mbps)}).Infof("%s in progress", t.what)
	t.mu.Lock()
	t.ticker.Reset(t.every)
	t.mu.Unlock()
}

// finish stops the progress lines and logs the outcome: Info for a
// transfer that lasted a progress interval (so showed progress lines) or
// met retries, Debug otherwise. The retry counts go on every outcome line.
func (t *transfer) finish(err error) {
	t.stopOnce.Do(func() {
		close(t.stopped)
		t.mu.Lock()
		if t.ticker != nil {
			t.ticker.Stop()
		}
		t.mu.Unlock()
	})
	if err != nil {
		return // the caller logs the error with its context
	}
	n, mbps := t.rate()
	r := t.retries()
	entry := t.log.WithFields(r.fields()).WithFields(logrus.Fields{"bytes": strconv.FormatInt(n, 10), "MBps": fmt.Sprintf("%.1f", mbps),
		"seconds": fmt.Sprintf("%.1f", time.Since(t.start).Seconds()), "retries": r.total()})
	if r.total() > 0 || (t.every > 0 && time.Since(t.start) >= t.every) {
		entry.Infof("%s done", t.what)
	} else {
		entry.Debugf("%s done", t.what)
	}
}

// watch returns a timer that cancels with cause ErrStalled unless kicked
// within the stall timeout: cancel is the context of the step watched (one
// request's, or the whole transfer's when nothing can be retried). Stop it
// when the step is over.
func (t *transfer) watch(step string, cancel context.CancelCauseFunc) *stallTimer {
	st := &stallTimer{d: t.stall}
	st.t = time.AfterFunc(t.stall, func() {
		cancel(fmt.Errorf("%w: %s made no progress for %s", ErrStalled, step, t.stall))
	})
	return st
}

type stallTimer struct {
	t *time.Timer
	d time.Duration
}

func (s *stallTimer) kick() { s.t.Reset(s.d) }
func (s *stallTimer) stop() { s.t.Stop() }

// watchedBody is a part body the HTTP transport reads: every read kicks
// the stall timer, so a connection that stops taking bytes fails the
// attempt. It seeks, so the SDK can hash it.
type watchedBody struct {
	io.ReadSeeker
	timer *stallTimer
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.ReadSeeker.Read(p)
	w.timer.kick()
	return n, err
}

var _ io.ReadSeeker = (*watchedBody)(nil)
