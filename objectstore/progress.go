package objectstore

import (
	"bytes"
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
// strings: the host's JSON decoding would print numbers as 6.4e+07), logs a
// progress line every ProgressInterval, and cancels the transfer's context
// (cause ErrStalled) when a watched step makes no progress for too long.
type transfer struct {
	log      logrus.FieldLogger
	what     string
	start    time.Time
	bytes    atomic.Int64
	stall    time.Duration
	every    time.Duration
	cancel   context.CancelCauseFunc
	stopOnce sync.Once
	stopped  chan struct{}
}

func startTransfer(log logrus.FieldLogger, what string, every, stall time.Duration, cancel context.CancelCauseFunc) *transfer {
	t := &transfer{log: log, what: what, start: time.Now(), stall: stall, every: every, cancel: cancel, stopped: make(chan struct{})}
	if every > 0 {
		go t.report(every)
	}
	return t
}

func (t *transfer) add(n int) { t.bytes.Add(int64(n)) }

func (t *transfer) rate() (int64, float64) {
	n := t.bytes.Load()
	secs := time.Since(t.start).Seconds()
	if secs <= 0 {
		return n, 0
	}
	return n, float64(n) / secs / 1e6
}

func (t *transfer) report(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stopped:
			return
		case <-tick.C:
			n, mbps := t.rate()
			t.log.WithFields(logrus.Fields{"bytes": strconv.FormatInt(n, 10), "MBps": fmt.Sprintf("%.1f", mbps)}).Infof("%s in progress", t.what)
		}
	}
}

// finish stops the progress lines and logs the outcome: Info for a
// transfer that lasted a progress interval (so showed progress lines),
// Debug otherwise.
func (t *transfer) finish(err error) {
	t.stopOnce.Do(func() { close(t.stopped) })
	if err != nil {
		return // the caller logs the error with its context
	}
	n, mbps := t.rate()
	entry := t.log.WithFields(logrus.Fields{"bytes": strconv.FormatInt(n, 10), "MBps": fmt.Sprintf("%.1f", mbps), "seconds": fmt.Sprintf("%.1f", time.Since(t.start).Seconds())})
	if t.every > 0 && time.Since(t.start) >= t.every {
		entry.Infof("%s done", t.what)
	} else {
		entry.Debugf("%s done", t.what)
	}
}

// watch returns a timer that stalls the transfer unless kicked within the
// stall timeout. Stop it when the watched step is over.
func (t *transfer) watch(step string) *stallTimer {
	st := &stallTimer{d: t.stall}
	st.t = time.AfterFunc(t.stall, func() {
		t.cancel(fmt.Errorf("%w: %s made no progress for %s", ErrStalled, step, t.stall))
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
// transfer. It seeks, so the SDK can hash it and resend it on a retry.
type watchedBody struct {
	*bytes.Reader
	timer *stallTimer
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.Reader.Read(p)
	w.timer.kick()
	return n, err
}

var _ io.ReadSeeker = (*watchedBody)(nil)
