package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is what a Fault does to the requests it matches.
type FaultKind int

const (
	// FaultStatus answers at once with Status and an S3 error Code, and
	// forwards nothing (the request body is read and dropped).
	FaultStatus FaultKind = iota
	// FaultReset forwards the request, then resets the TCP connection
	// (RST) once After bytes of data have passed.
	FaultReset
	// FaultStall forwards the request, then stops passing data once After
	// bytes have passed, until the client gives up, the proxy goes down,
	// the test ends or Hold has passed, and then resets the connection: a
	// connection that stopped forwarding. (A client that gives up while
	// it is still sending is not seen: that stall ends at Hold.)
	FaultStall
	// FaultDown takes the whole proxy down once After bytes have passed
	// (at once with After 0), cutting every connection, and brings it up
	// again For later: a server that restarts.
	FaultDown
)

// Fault is one kind of misbehaviour for the requests that Match accepts.
// The data that After counts is the request body for a request that has
// one (PUT, POST with a body), else the response body.
type Fault struct {
	Kind  FaultKind
	Match func(*http.Request) bool // nil: every request
	Times int                      // how many times it strikes; 0: every time
	After int64                    // FaultReset, FaultStall, FaultDown: bytes of data that pass first
	// FaultStatus: the HTTP status (503 if 0) and the S3 error code (the
	// usual one for the status if empty; SlowDown must be asked for).
	Status int
	Code   string
	For    time.Duration // FaultDown: how long the proxy stays down
	Hold   time.Duration // FaultStall: the longest it holds (2 minutes if 0)
}

// Injection is a fault in force; Hits says how often it struck.
type Injection struct {
	Fault
	left atomic.Int64
	hits atomic.Int64
}

// Hits is how many times the fault struck so far.
func (f *Injection) Hits() int { return int(f.hits.Load()) }

// take claims one strike; false once Times strikes were taken.
func (f *Injection) take() bool {
	if f.Times == 0 {
		f.hits.Add(1)
		return true
	}
	for {
		left := f.left.Load()
		if left <= 0 {
			return false
		}
		if f.left.CompareAndSwap(left, left-1) {
			f.hits.Add(1)
			return true
		}
	}
}

func (f *Injection) spent() bool { return f.Times > 0 && f.left.Load() <= 0 }

// answersAtOnce is true for a fault that strikes before anything is
// forwarded.
func (f *Injection) answersAtOnce() bool {
	return f.Kind == FaultStatus || (f.Kind == FaultDown && f.After == 0)
}

// apply strikes at once: an error answer, or the proxy going down.
func (f *Injection) apply(p *Proxy, w http.ResponseWriter, r *http.Request) {
	if f.Kind == FaultDown {
		p.downFor(f.For)
		return
	}
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	writeS3Error(w, r, status, f.Code)
}

type faultList struct {
	mu   sync.Mutex
	list []*Injection
}

// pick returns the first fault in force that matches r.
func (l *faultList) pick(r *http.Request) *Injection {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.list {
		if !f.spent() && (f.Match == nil || f.Match(r)) {
			return f
		}
	}
	return nil
}

// Inject puts f in force, after the faults already injected (the first
// that matches a request applies to it), until ClearFaults.
func (p *Proxy) Inject(f Fault) *Injection {
	in := &Injection{Fault: f}
	in.left.Store(int64(f.Times))
	p.faults.mu.Lock()
	defer p.faults.mu.Unlock()
	p.faults.list = append(p.faults.list, in)
	return in
}

// ClearFaults ends every injected fault, the latency and the bandwidth
// limit.
func (p *Proxy) ClearFaults() {
	p.faults.mu.Lock()
	p.faults.list = nil
	p.faults.mu.Unlock()
	p.SetLatency(0)
	p.SetBandwidth(0)
}

// SetLatency delays every request by d before it is forwarded; 0 stops it.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetBandwidth limits the data through the proxy, both ways and all
// connections together, to bytesPerSecond; 0 lifts the limit.
func (p *Proxy) SetBandwidth(bytesPerSecond int64) { p.pace.rate.Store(bytesPerSecond) }

// downFor takes the proxy down and brings it up again d later.
func (p *Proxy) downFor(d time.Duration) {
	p.Down()
	time.AfterFunc(d, p.Up)
}

// s3Codes are the error codes S3 answers with for a status.
var s3Codes = map[int]string{
	http.StatusForbidden:           "AccessDenied",
	http.StatusTooManyRequests:     "TooManyRequests",
	http.StatusInternalServerError: "InternalError",
	http.StatusBadGateway:          "BadGateway",
	http.StatusServiceUnavailable:  "ServiceUnavailable",
	http.StatusGatewayTimeout:      "GatewayTimeout",
}

// writeS3Error answers as S3 does, after reading the request body.
func writeS3Error(w http.ResponseWriter, r *http.Request, status int, code string) {
	if code == "" {
		code = s3Codes[status]
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the test proxy</Message></Error>`, code)
}

// tap passes one direction of a request's data: it paces it to the
// bandwidth limit and strikes its fault once After bytes have passed.
type tap struct {
	io.ReadCloser
	p      *Proxy
	f      *Injection // nil: none
	conn   net.Conn
	ctx    context.Context
	passed int64
}

// paceChunk keeps paced reads small, so the limit holds over short spans.
const paceChunk = 16 << 10

func (t *tap) Read(b []byte) (int, error) {
	if t.f != nil {
		if t.passed >= t.f.After {
			if t.f.take() {
				return 0, t.strike()
			}
			t.f = nil // spent on other requests meanwhile
		} else if left := t.f.After - t.passed; int64(len(b)) > left {
			b = b[:left]
		}
	}
	if t.p.pace.rate.Load() > 0 && len(b) > paceChunk {
		b = b[:paceChunk]
	}
	n, err := t.ReadCloser.Read(b)
	t.passed += int64(n)
	t.p.pace.wait(t.ctx, n)
	return n, err
}

var errInjected = errors.New("test proxy: injected fault")

func (t *tap) strike() error {
	switch t.f.Kind {
	case FaultReset:
		resetConn(t.conn)
	case FaultStall:
		hold := t.f.Hold
		if hold <= 0 {
			hold = 2 * time.Minute
		}
		ctx, cancel := context.WithTimeout(t.ctx, hold)
		t.p.hold(ctx)
		cancel()
		resetConn(t.conn) // whatever is left of it
	case FaultDown:
		t.p.downFor(t.f.For)
	}
	return errInjected
}

// resetConn closes c with an RST, as a peer or middlebox that drops the
// connection does.
func resetConn(c net.Conn) {
	if c == nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// pacer spreads bytes over time at rate bytes a second, for all who share it.
type pacer struct {
	rate atomic.Int64
	mu   sync.Mutex
	next time.Time
}

func (pc *pacer) wait(ctx context.Context, n int) {
	rate := pc.rate.Load()
	if rate <= 0 || n <= 0 {
		return
	}
	pc.mu.Lock()
	now := time.Now()
	if pc.next.Before(now) {
		pc.next = now
	}
	pc.next = pc.next.Add(time.Duration(int64(n) * int64(time.Second) / rate))
	d := pc.next.Sub(now)
	pc.mu.Unlock()
	sleep(ctx, d)
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}
