package testenv

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Request is what the proxy saw of one request.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   int64 // bytes of body that passed
}

// Proxy sits between the plugin and a real S3 server on 127.0.0.1: it
// records every request's headers and can inject faults a real server
// will not produce on demand.
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
	block     atomic.Pointer[func(r *http.Request) bool]
}

// SetFail makes requests for which f returns true get a 403, as a server
// answers for a permission it lacks; nil stops it.
func (p *Proxy) SetFail(f func(r *http.Request) bool) { p.fail.Store(&f) }

// SetBlock holds requests for which f returns true until the client gives
// up (a server that accepts and never answers); nil stops it.
func (p *Proxy) SetBlock(f func(r *http.Request) bool) { p.block.Store(&f) }

func match(f *func(r *http.Request) bool, r *http.Request) bool {
	return f != nil && *f != nil && (*f)(r)
}

// StartProxy proxies to target (an http:// endpoint) until the test ends.
func StartProxy(t T, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && resp.StatusCode/100 == 2 && p.CutGets.Add(-1) >= 0 {
			resp.Body = &cutBody{ReadCloser: resp.Body, left: p.CutAfter.Load()}
		}
		if n := p.HangAfter.Load(); n > 0 && resp.Request.Method == http.MethodGet && resp.StatusCode/100 == 2 {
			resp.Body = &cutBody{ReadCloser: resp.Body, left: n, hang: resp.Request.Context().Done()}
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counted := &countBody{ReadCloser: r.Body}
		r.Body = counted
		idx := p.record(r)
		defer func() { p.setBody(idx, counted.n.Load()) }()
		if match(p.block.Load(), r) {
			<-r.Context().Done()
			return
		}
		if match(p.fail.Load(), r) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>injected by the test proxy</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.URL = "http://" + l.Addr().String()
	return p
}

func (p *Proxy) record(r *http.Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	return len(p.reqs) - 1
}

func (p *Proxy) setBody(i int, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs[i].Body = n
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
func (r Request) Kind() string {
	q := r.Query
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodGet && (q.Has("list-type") || strings.Count(strings.Trim(r.Path, "/"), "/") == 0):
		return "ListObjects"
	case r.Method == http.MethodGet:
		return "GetObject"
	case r.Method == http.MethodHead && strings.Count(strings.Trim(r.Path, "/"), "/") == 0:
		return "HeadBucket"
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodDelete:
		return "DeleteObject"
	}
	return r.Method
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
