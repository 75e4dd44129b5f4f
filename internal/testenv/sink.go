package testenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Sink is an S3 endpoint for benchmarks only: it answers the calls the
// plugins make to upload (PutObject, the multipart calls, HeadObject,
// HeadBucket, GetBucketLocation, empty listings) and keeps of each object
// only its size and sha256, discarding the bytes, so an upload of any
// size fits. It checks no signature. Parts are hashed in part-number
// order: a part that arrives before its turn is held in memory (this
// process's, not the plugin's) until the parts before it are in.
type Sink struct {
	URL     string
	mu      sync.Mutex
	objects map[string]SinkObject
	uploads map[string]*sinkUpload
	nextID  int
}

// SinkObject is what the sink keeps of an object.
type SinkObject struct {
	Size   int64
	SHA256 string // hex
}

type sinkUpload struct {
	key       string
	mu        sync.Mutex
	next      int // the part whose bytes the hash takes next
	streaming bool
	pending   map[int][]byte
	h         hash.Hash
	size      int64
	err       error
}

// StartSink serves a sink on 127.0.0.1 until the test ends.
func StartSink(t T) *Sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{URL: "http://" + l.Addr().String(), objects: map[string]SinkObject{}, uploads: map[string]*sinkUpload{}}
	srv := &http.Server{Handler: s} //nolint:gosec // a local benchmark endpoint
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Object returns what the sink holds under bucket/key.
func (s *Sink) Object(bucket, key string) (SinkObject, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o, ok
}

// ServeHTTP answers one S3 request (path-style addressing).
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	name := bucket + "/" + key
	switch {
	case key == "" && r.Method == http.MethodHead:
	case key == "" && q.Has("location"):
		writeXML(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">us-east-1</LocationConstraint>`)
	case key == "" && q.Has("uploads"):
		writeXML(w, fmt.Sprintf(`<ListMultipartUploadsResult><Bucket>%s</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`, bucket))
	case key == "" && r.Method == http.MethodGet:
		writeXML(w, fmt.Sprintf(`<ListBucketResult><Name>%s</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`, bucket))
	case r.Method == http.MethodPost && q.Has("uploads"):
		s.mu.Lock()
		s.nextID++
		id := strconv.Itoa(s.nextID)
		s.uploads[id] = &sinkUpload{key: name, next: 1, pending: map[int][]byte{}, h: sha256.New()}
		s.mu.Unlock()
		writeXML(w, fmt.Sprintf(`<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, bucket, key, id))
	case r.Method == http.MethodPut && q.Has("partNumber"):
		s.uploadPart(w, r, q.Get("uploadId"), q.Get("partNumber"))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		s.complete(w, r, q.Get("uploadId"), bucket, key)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		s.mu.Lock()
		delete(s.uploads, q.Get("uploadId"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		h := sha256.New()
		n, err := io.Copy(h, payload(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.objects[name] = SinkObject{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
		s.mu.Unlock()
		w.Header().Set("ETag", `"sink"`)
	case r.Method == http.MethodHead:
		o, ok := s.Object(bucket, key)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(o.Size, 10))
		w.Header().Set("ETag", `"sink"`)
	case r.Method == http.MethodDelete:
		s.mu.Lock()
		delete(s.objects, name)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeS3Error(w, r, http.StatusNotImplemented, "NotImplemented")
	}
}

// uploadPart hashes the part now if it is next, else holds it.
func (s *Sink) uploadPart(w http.ResponseWriter, r *http.Request, id, num string) {
	s.mu.Lock()
	u := s.uploads[id]
	s.mu.Unlock()
	n, err := strconv.Atoi(num)
	if u == nil || err != nil {
		writeS3Error(w, r, http.StatusNotFound, "NoSuchUpload")
		return
	}
	u.mu.Lock()
	if n == u.next && !u.streaming {
		u.streaming = true
		u.mu.Unlock()
		got, err := io.Copy(u.h, payload(r))
		u.mu.Lock()
		u.size += got
		u.streaming = false
		u.next++
		u.fail(err)
	} else {
		u.mu.Unlock()
		data, err := io.ReadAll(payload(r))
		u.mu.Lock()
		u.pending[n] = data
		u.fail(err)
	}
	for data, ok := u.pending[u.next]; ok && !u.streaming; data, ok = u.pending[u.next] {
		u.h.Write(data)
		u.size += int64(len(data))
		delete(u.pending, u.next)
		u.next++
	}
	err = u.err
	u.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"part-%d"`, n))
}

func (u *sinkUpload) fail(err error) {
	if err != nil && u.err == nil {
		u.err = err
	}
}

func (s *Sink) complete(w http.ResponseWriter, r *http.Request, id, bucket, key string) {
	s.mu.Lock()
	u := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	if u == nil {
		writeS3Error(w, r, http.StatusNotFound, "NoSuchUpload")
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil || u.streaming || len(u.pending) > 0 {
		http.Error(w, fmt.Sprintf("upload %s incomplete: %v, %d parts out of order", id, u.err, len(u.pending)), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.objects[u.key] = SinkObject{Size: u.size, SHA256: hex.EncodeToString(u.h.Sum(nil))}
	s.mu.Unlock()
	writeXML(w, fmt.Sprintf(`<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"sink-%d"</ETag></CompleteMultipartUploadResult>`, bucket, key, u.next-1))
}

func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+body)
}

// payload is the request's data: the body, or its aws-chunked encoding
// decoded (size;chunk-signature lines, then trailers).
func payload(r *http.Request) io.Reader {
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") &&
		!strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return r.Body
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(unchunk(bufio.NewReader(r.Body), pw)) }()
	return pr
}

func unchunk(br *bufio.Reader, w io.Writer) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return fmt.Errorf("aws-chunked size %q: %w", line, err)
		}
		if size == 0 {
			_, err := io.Copy(io.Discard, br) // trailers
			return err
		}
		if _, err := io.CopyN(w, br, size); err != nil {
			return err
		}
		if crlf, err := br.ReadString('\n'); err != nil || strings.TrimSpace(crlf) != "" {
			return errors.New("aws-chunked: chunk not followed by CRLF")
		}
	}
}
