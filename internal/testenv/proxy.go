package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request is what the proxy saw of one request.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   int64 // bytes of body that passed
	// Form is an STS request's form (Action, RoleArn, RoleSessionName,
	// ExternalId, DurationSeconds); nil for S3 requests. It holds no
	// secret: SigV4 signs the form, it does not carry the key.
	Form url.Values
}

// Proxy sits between the plugin and a real S3 server on 127.0.0.1: it
// records every request's headers and injects the faults a real server
// and network will not produce on demand: error answers, resets, stalls,
// latency, a bandwidth limit, and going down then up (see faults.go).
type Proxy struct {
	URL string

	mu   sync.Mutex
	reqs []Request

	// CutGets cuts this many GET responses after CutAfter body bytes.
	CutGets  atomic.Int32
	CutAfter atomic.Int64
	// HangAfter, when set, holds every GET response after that many body
	// bytes until the client gives up: a download that stalls mid-way.
	HangAfter atomic.Int64
	fail      atomic.Pointer[func(r *http.Request) bool]
	rewrite   atomic.Pointer[rewrite]
	block     atomic.Pointer[func(r *http.Request) bool]

	faults  faultList
	latency atomic.Int64 // time.Duration before each request is forwarded
	// dateOffset moves every answer's Date header: a server whose clock
	// is off, as the client sees it.
	dateOffset atomic.Int64
	pace       pacer

	t       T
	addr    string
	handler http.Handler
	life    sync.Mutex    // guards srv, downed and the end of the test
	srv     *http.Server  // nil while down
	downed  chan struct{} // closed when the proxy goes down: held requests end
	done    chan struct{} // closed when the test ends
}

// SetFail makes requests for which f returns true get a 403, as a server
// answers for a permission it lacks; nil stops it.
func (p *Proxy) SetFail(f func(r *http.Request) bool) { p.fail.Store(&f) }

// SetBlock holds requests for which f returns true until the client gives
// up (a server that accepts and never answers); nil stops it.
func (p *Proxy) SetBlock(f func(r *http.Request) bool) { p.block.Store(&f) }

type rewrite struct {
	match func(*http.Request) bool
	f     func(body []byte) []byte
}

// SetRewrite hands the body of each successful response to a request for
// which match returns true to f, and sends what f returns instead; a nil
// f stops it. A test uses it to change what a real server said, such as
// the Expiration of STS credentials.
func (p *Proxy) SetRewrite(match func(*http.Request) bool, f func(body []byte) []byte) {
	p.rewrite.Store(&rewrite{match: match, f: f})
}

func match(f *func(r *http.Request) bool, r *http.Request) bool {
	return f != nil && *f != nil && (*f)(r)
}

type connKey struct{}

// StartProxy proxies to target (an http:// endpoint) until the test ends.
func StartProxy(t T, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, downed: make(chan struct{}), done: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = p.modifyResponse
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, rp) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serveOn(l)
	t.Cleanup(func() {
		p.life.Lock()
		close(p.done)
		p.life.Unlock()
		p.Down()
	})
	p.URL = "http://" + p.addr
	return p
}

func (p *Proxy) serveOn(l net.Listener) {
	p.srv = &http.Server{
		Handler:           p.handler,
		ReadHeaderTimeout: time.Minute,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	go func(srv *http.Server) { _ = srv.Serve(l) }(p.srv)
}

// Down stops the proxy as a server that restarts stops: its port refuses
// connections, open ones are cut and held requests end, until Up.
func (p *Proxy) Down() {
	p.life.Lock()
	defer p.life.Unlock()
	if p.srv == nil {
		return
	}
	_ = p.srv.Close()
	p.srv = nil
	close(p.downed)
}

// Up listens again on the same address after Down.
func (p *Proxy) Up() {
	p.life.Lock()
	defer p.life.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	if p.srv != nil {
		return
	}
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port is ours, but the kernel may hold it a moment
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Errorf("test proxy cannot listen again on %s: %v", p.addr, err)
		return
	}
	p.downed = make(chan struct{})
	p.serveOn(l)
}

// hold waits until the client gives up, the proxy goes down or the test
// ends: a peer that stopped answering.
func (p *Proxy) hold(ctx context.Context) {
	p.life.Lock()
	downed := p.downed
	p.life.Unlock()
	select {
	case <-ctx.Done():
	case <-downed:
	case <-p.done:
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	form, ok := stsForm(r)
	if !ok {
		writeS3Error(w, r, http.StatusBadRequest, "")
		return
	}
	counted := &countBody{ReadCloser: r.Body}
	r.Body = counted
	idx := p.record(r, form)
	defer func() { p.setBody(idx, counted.n.Load()) }()
	if match(p.block.Load(), r) {
		p.hold(r.Context())
		return
	}
	if match(p.fail.Load(), r) {
		writeS3Error(w, r, http.StatusForbidden, "")
		return
	}
	if !sleep(r.Context(), time.Duration(p.latency.Load())) {
		return
	}
	f := p.faults.pick(r)
	if f != nil && f.answersAtOnce() {
		if f.take() {
			f.apply(p, w, r)
			return
		}
		f = nil
	}
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	up := &tap{ReadCloser: r.Body, p: p, conn: conn, ctx: r.Context()}
	down := &tap{p: p, conn: conn, ctx: r.Context()}
	if r.ContentLength != 0 { // the data goes up: the fault counts the request body
		up.f = f
	} else {
		down.f = f
	}
	r.Body = up
	rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tapKey{}, down)))
}

type tapKey struct{}

// SetDateOffset moves the Date header of every answer by d: a server
// clock d ahead (negative: behind).
func (p *Proxy) SetDateOffset(d time.Duration) { p.dateOffset.Store(int64(d)) }

func (p *Proxy) modifyResponse(resp *http.Response) error {
	if off := time.Duration(p.dateOffset.Load()); off != 0 {
		if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			resp.Header.Set("Date", date.Add(off).UTC().Format(http.TimeFormat))
		}
	}
	if down, ok := resp.Request.Context().Value(tapKey{}).(*tap); ok {
		down.ReadCloser = resp.Body
		resp.Body = down
	}
	if rw := p.rewrite.Load(); rw != nil && rw.f != nil && resp.StatusCode/100 == 2 && match(&rw.match, resp.Request) {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = rw.f(body)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if resp.Request.Method == http.MethodGet && resp.StatusCode/100 == 2 && p.CutGets.Add(-1) >= 0 {
		resp.Body = &cutBody{ReadCloser: resp.Body, left: p.CutAfter.Load()}
	}
	if n := p.HangAfter.Load(); n > 0 && resp.Request.Method == http.MethodGet && resp.StatusCode/100 == 2 {
		resp.Body = &cutBody{ReadCloser: resp.Body, left: n, hang: resp.Request.Context().Done()}
	}
	return nil
}

// stsForm reads the form of an STS request and puts the bytes back for
// the server; nil for other requests, false when the body cannot be read.
func stsForm(r *http.Request) (url.Values, bool) {
	if kindOf(r.Method, r.URL.Path, r.URL.Query()) != "STS" || r.Body == nil {
		return nil, true
	}
	body, err := io.ReadAll(r.Body) // a few hundred bytes
	r.Body.Close()
	if err != nil {
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return url.Values{}, true
	}
	return form, true
}

func (p *Proxy) record(r *http.Request, form url.Values) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Form: form})
	return len(p.reqs) - 1
}

func (p *Proxy) setBody(i int, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < len(p.reqs) { // Reset may have run while the request was in flight
		p.reqs[i].Body = n
	}
}

// Requests returns what was recorded so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}

// Reset forgets the recorded requests.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = nil
}

// Kind names an S3 operation from its method and query, for assertions.
func (r Request) Kind() string { return kindOf(r.Method, r.Path, r.Query) }

func kindOf(method, path string, q url.Values) string {
	bucketOnly := strings.Count(strings.Trim(path, "/"), "/") == 0
	switch {
	case method == http.MethodPost && strings.Trim(path, "/") == "": // a POST to no bucket: an STS action in the form body
		return "STS"
	case method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case method == http.MethodPut:
		return "PutObject"
	case method == http.MethodGet && q.Has("uploads"):
		return "ListMultipartUploads"
	case method == http.MethodGet && (q.Has("list-type") || bucketOnly):
		return "ListObjects"
	case method == http.MethodGet:
		return "GetObject"
	case method == http.MethodHead && bucketOnly:
		return "HeadBucket"
	case method == http.MethodHead:
		return "HeadObject"
	case method == http.MethodDelete:
		return "DeleteObject"
	}
	return method
}

// OfKind matches the requests of the named S3 operations (as Kind names
// them), for a Fault's Match.
func OfKind(kinds ...string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		k := kindOf(r.Method, r.URL.Path, r.URL.Query())
		for _, want := range kinds {
			if k == want {
				return true
			}
		}
		return false
	}
}

// cutBody ends a response with an error after left bytes, or, with hang
// set, holds it there until hang is closed.
type cutBody struct {
	io.ReadCloser
	left int64
	hang <-chan struct{}
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		if c.hang != nil {
			<-c.hang
		}
		return 0, fmt.Errorf("test proxy cut the response")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

type countBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (c *countBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
