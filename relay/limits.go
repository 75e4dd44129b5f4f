package relay

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// limitListener accepts at most max open connections; a connection past
// that is closed at once (and over is called), so that a flood of
// connections costs the relay a file descriptor for a moment each, not
// memory, and a legitimate client that retries gets in when the flood's
// connections time out.
func limitListener(l net.Listener, max int, over func()) net.Listener {
	return &limited{Listener: l, slots: make(chan struct{}, max), over: over}
}

type limited struct {
	net.Listener
	slots chan struct{}
	over  func()
}

func (l *limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			c.Close()
			if l.over != nil {
				l.over()
			}
		}
	}
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Log lines about clients the relay refuses are written for strangers'
// connections, so each is bounded in length and all of them in rate.
const (
	maxLogValue    = 256             // bytes of one logged value taken from a client (a name, a reason)
	logBurst       = 10              // lines at once
	logRefillEvery = 6 * time.Second // one more line per this, up to the burst: 10 a minute
)

// logLimiter writes warnings up to logBurst at once and one more per
// logRefillEvery; lines past that are counted, and the count is written
// with the next line that goes out.
type logLimiter struct {
	log logrus.FieldLogger
	now func() time.Time

	mu         sync.Mutex
	tokens     float64
	at         time.Time
	suppressed int
}

func newLogLimiter(log logrus.FieldLogger) *logLimiter {
	return &logLimiter{log: log, now: time.Now, tokens: logBurst}
}

// Warn logs msg with fields, unless the rate is spent.
func (l *logLimiter) Warn(fields logrus.Fields, msg string) {
	l.mu.Lock()
	now := l.now()
	if !l.at.IsZero() {
		l.tokens = min(logBurst, l.tokens+float64(now.Sub(l.at))/float64(logRefillEvery))
	}
	l.at = now
	if l.tokens < 1 {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.tokens--
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	f := logrus.Fields{}
	for k, v := range fields {
		f[k] = v
	}
	if suppressed > 0 {
		f["notLogged"] = suppressed // lines like this one left out since the last
	}
	l.log.WithFields(f).Warn(msg)
}

// bounded cuts s to maxLogValue bytes (on a rune boundary), saying how
// much was cut.
func bounded(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	var b strings.Builder
	b.WriteString(s[:cut])
	b.WriteString("…(")
	b.WriteString(strconv.Itoa(len(s) - cut))
	b.WriteString(" more bytes)")
	return b.String()
}
