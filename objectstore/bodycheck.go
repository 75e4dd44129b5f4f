package objectstore

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Velero's host ends a failed stream with a clean EOF, so a body cut short
// looks complete. Velero's keys say what their bodies are: gzip (.gz,
// where the trailer's CRC-32 and length tell) or JSON (.json, which must
// parse to its end). Such a body is checked as it streams past, before
// anything is committed.

// bodyCheck verifies one kind of body: verify reads it all and returns
// the format's error; what turns that error into words.
type bodyCheck struct {
	verify func(io.Reader) error
	what   func(error) string
}

var gzipBody = bodyCheck{
	verify: func(r io.Reader) error {
		zr, err := gzip.NewReader(r)
		if err == nil {
			_, err = io.Copy(io.Discard, zr)
		}
		return err
	},
	what: func(err error) string {
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "ends before its gzip trailer (the stream from Velero was cut short)"
		case errors.Is(err, gzip.ErrChecksum):
			return "fails its gzip checksum"
		case errors.Is(err, gzip.ErrHeader):
			return "is not a gzip stream"
		}
		return "is corrupt"
	},
}

var jsonBody = bodyCheck{verify: wellFormedJSON, what: func(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "ends before its JSON value does (the stream from Velero was cut short)"
	}
	return "is not well-formed JSON"
}}

// wellFormedJSON reads one JSON value token by token, so memory stays at
// the largest string, and refuses anything after it.
func wellFormedJSON(r io.Reader) error {
	dec := json.NewDecoder(r)
	depth, values := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			switch {
			case depth > 0:
				return io.ErrUnexpectedEOF
			case values == 0:
				return errors.New("no JSON value")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if depth == 0 && values == 1 {
			return fmt.Errorf("more than one JSON value")
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			values++
		}
	}
}

// checkFor is the check a key's body gets, nil for none.
func checkFor(key string) *bodyCheck {
	switch {
	case strings.HasSuffix(key, ".gz"):
		return &gzipBody
	case strings.HasSuffix(key, ".json"):
		return &jsonBody
	}
	return nil
}

// streamCheck runs a bodyCheck over an upload's body as it streams past:
// over its parts in order, reading each where it is (in memory or in its
// spool file), or for an encrypted upload over the plaintext its sealer
// writes into pipe, since the parts hold ciphertext.
type streamCheck struct {
	check   *bodyCheck
	parts   chan *part // nil when the check reads pipe
	pipe    *plainPipe
	cur     *part
	off     int64
	readErr error // a spool file that could not be read: not the body's fault
	done    chan error
	started bool // the check ran or runs; only the upload's reader sets it
	ended   bool // the last part was read
}

func newStreamCheck(c *bodyCheck, depth int) *streamCheck {
	return &streamCheck{check: c, parts: make(chan *part, depth), done: make(chan error, 1)}
}

// run checks the parts as they come, then releases whatever is still
// queued.
func (g *streamCheck) run() {
	err := g.check.verify(g)
	for {
		if g.cur != nil {
			g.cur.release()
			g.cur = nil
		}
		p, ok := <-g.parts
		if !ok {
			break
		}
		g.cur = p
	}
	g.done <- err
}

// newPlainCheck checks the plaintext written to the check's pipe.
func newPlainCheck(c *bodyCheck) *streamCheck {
	g := &streamCheck{check: c, pipe: newPlainPipe(plainRing), done: make(chan error, 1)}
	go func() {
		err := c.verify(g.pipe)
		g.pipe.closeRead()
		g.done <- err
	}()
	return g
}

// readsParts is true when the check reads the upload's parts.
func (g *streamCheck) readsParts() bool { return g.parts != nil }

// Read feeds the check from the queued parts.
func (g *streamCheck) Read(p []byte) (int, error) {
	for g.cur == nil || g.off == g.cur.size {
		if g.cur != nil {
			g.ended = g.cur.last
			g.cur.release()
			g.cur = nil
		}
		if g.ended { // the body ends with the last part read
			return 0, io.EOF
		}
		next, ok := <-g.parts
		if !ok {
			return 0, io.EOF
		}
		g.cur, g.off = next, 0
	}
	n, err := g.cur.ReadAt(p, g.off)
	g.off += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		g.readErr = err
		return n, err
	}
	return n, nil
}

// add queues part p for the check. The first part starts it: in a
// goroutine of its own, or, when the whole body is this one part (most
// of Velero's objects), here and now, since the object is sent only
// after the verdict anyway.
func (g *streamCheck) add(p *part) {
	g.parts <- p
	if g.started {
		return
	}
	g.started = true
	if !p.last {
		go g.run()
		return
	}
	err := g.check.verify(g)
	if g.cur != nil {
		g.cur.release()
		g.cur = nil
	}
	select {
	case p := <-g.parts: // not read: the check failed first
		p.release()
	default:
	}
	g.done <- err
}

// end says no more of the body comes; the reader calls it however it
// stops, so the check's goroutine always ends, failed uploads included.
// A check that no part started judges the empty body here.
func (g *streamCheck) end() {
	if g.pipe != nil {
		g.pipe.closeWrite()
		return
	}
	close(g.parts)
	if !g.started {
		g.started = true
		g.done <- g.check.verify(g)
	}
}

// result waits for the check's verdict once the reader has ended it;
// received is how many bytes of the body Velero sent.
func (g *streamCheck) result(received int64) error {
	err := <-g.done
	if err == nil {
		return nil
	}
	if g.readErr != nil {
		return fmt.Errorf("read a spooled part back for the body check: %w", g.readErr)
	}
	return fmt.Errorf("%w: the stream (%d bytes received) %s: %v", ErrTruncated, received, g.check.what(err), err)
}
