package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/relay"
)

// containerLimit is the relay container's memory limit in
// deploy/csi-relay/relay-sidecar-patch.yaml.
const containerLimit = 64 << 20

// startBinary runs the built binary's relay in front of the driver at
// endpoint, with certs and more flags.
func startBinary(t *testing.T, endpoint string, certs *testenv.RelayCerts, more ...string) *testenv.Relay {
	t.Helper()
	return testenv.StartRelayCommand(t, "", func(listen, health string) []string {
		return append([]string{"--csi-address=" + endpoint, "--listen=" + listen,
			"--tls-cert-file=" + certs.ServerCert, "--tls-private-key-file=" + certs.ServerKey,
			"--client-ca-file=" + certs.ClientCAFile, "--client-name=velero", "--http-endpoint=" + health}, more...)
	})
}

// peakRSS is the relay process's peak resident memory (VmHWM).
func peakRSS(t *testing.T, r *testenv.Relay) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.Pid()))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// flood opens n connections to addr, at most 64 at a time in flight,
// each writing first (nil: nothing) and then never finishing, and waits
// until the relay has closed every one (a read ends), for at most bound.
// It returns how many the relay did not close.
func flood(t *testing.T, addr string, n int, first []byte, bound time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(bound)
	var open atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			<-sem
			if err != nil {
				return // refused at once: closed
			}
			defer c.Close()
			open.Add(1)
			if first != nil {
				_, _ = c.Write(first)
			}
			_ = c.SetReadDeadline(deadline)
			_, err = io.Copy(io.Discard, c) // until the relay closes it
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return // still open at the bound
			}
			open.Add(-1)
		}()
	}
	wg.Wait()
	return int(open.Load())
}

// partialClientHello is the start of a TLS ClientHello that announces
// 60 KiB and sends 48 KiB of it in three records: the relay buffers what
// came until the handshake timeout (without a cap, 1,000 of these hold
// more than the container's limit).
func partialClientHello() []byte {
	record := func(body []byte) []byte {
		return append([]byte{0x16, 0x03, 0x01, byte(len(body) >> 8), byte(len(body))}, body...)
	}
	first := append([]byte{0x01, 0x00, 0xf0, 0x00}, make([]byte, 16<<10-4)...) // ClientHello, 61,440 bytes
	b := record(first)
	for i := 0; i < 2; i++ {
		b = append(b, record(make([]byte, 16<<10))...)
	}
	return b
}

// 1,000 connections that never finish the TLS handshake are all closed
// by the relay (the handshake timeout, or at once past the connection
// cap); its memory stays under the container's limit; Velero's client
// gets through afterwards.
func TestHandshakeFlood(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := startBinary(t, d.Endpoint, certs, "--handshake-timeout=1s")
	left := flood(t, r.Addr, 1000, partialClientHello(), 60*time.Second)
	assert.Zero(t, left, "connections the relay left open")
	rss := peakRSS(t, r)
	t.Logf("relay peak RSS %d MiB", rss>>20)
	assert.Less(t, rss, int64(containerLimit), "peak RSS under the container's limit")
	assert.Contains(t, r.Text(), "connection limit reached", "past --max-connections, connections are closed at once")
	_, err := info(client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, testenv.RelayServerName))
	assert.NoError(t, err, "Velero's client gets through after the flood")
}

// 5,000 connections to the health port, half idle and half stuck in a
// request's headers, are all closed; memory stays under the limit; a
// kept-alive connection is closed once idle; /healthz still answers.
func TestHealthFlood(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := startBinary(t, d.Endpoint, certs)
	left := flood(t, r.Health, 2500, nil, 60*time.Second)
	left += flood(t, r.Health, 2500, []byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"), 60*time.Second)
	assert.Zero(t, left, "connections the relay left open")
	rss := peakRSS(t, r)
	t.Logf("relay peak RSS %d MiB", rss>>20)
	assert.Less(t, rss, int64(containerLimit), "peak RSS under the container's limit")

	c, err := net.Dial("tcp", r.Health)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the relay closes a kept-alive connection once idle")
}

// countingIdentity answers Probe by asking the real driver, counting.
type countingIdentity struct {
	csi.UnimplementedIdentityServer
	driver csi.IdentityClient
	probes atomic.Int64
}

func (c *countingIdentity) Probe(ctx context.Context, req *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	c.probes.Add(1)
	return c.driver.Probe(ctx, req)
}

// However many GET /healthz come, at most one Probe a ProbeInterval
// reaches the driver.
func TestHealthProbesOncePerInterval(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	dc, err := grpc.NewClient(d.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer dc.Close()
	counter := &countingIdentity{driver: csi.NewIdentityClient(dc)}
	sock := t.TempDir() + "/counting.sock"
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, counter)
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	r := testenv.StartRelay(t, "unix://"+sock, certs)
	time.Sleep(relay.ProbeInterval) // the start's own Probes are past their interval
	counter.probes.Store(0)
	// Eight callers keep one connection each, well under the health
	// port's cap: each has a transport of its own that holds one, and
	// reads every body to its end, without which the transport closes the
	// connection and dials anew for the next GET. The relay counts a
	// closed connection until it sees the close, so on a busy machine
	// those dials met the cap and read EOF (seen in CI).
	start := time.Now()
	var wg sync.WaitGroup
	var ok atomic.Int64
	var firstErr atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				resp, err := client.Get("http://" + r.Health + "/healthz")
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
				}
				if err == nil {
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	intervals := int64(time.Since(start)/relay.ProbeInterval) + 1
	assert.Equal(t, int64(400), ok.Load(), "every GET answered 200 (first error: %v)", firstErr.Load())
	assert.LessOrEqual(t, counter.probes.Load(), intervals, "Probes for 400 GETs over %d intervals", intervals)
	assert.Positive(t, counter.probes.Load())
}

// h2 is an HTTP/2 connection over mutual TLS, spoken frame by frame.
type h2 struct {
	mu   sync.Mutex // writes
	conn net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	buf  bytes.Buffer
}

func dialH2(t *testing.T, addr string, certs *testenv.RelayCerts, certFile, keyFile string) *h2 {
	t.Helper()
	pem, err := os.ReadFile(certs.CAFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: testenv.RelayServerName,
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	h := &h2{conn: c, fr: http2.NewFramer(c, c)}
	h.enc = hpack.NewEncoder(&h.buf)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	require.NoError(t, h.fr.WriteSettings())
	return h
}

// headers is a gRPC request's header block for method, plus extra.
func (h *h2) headers(method string, extra ...hpack.HeaderField) []byte {
	h.buf.Reset()
	for _, f := range append([]hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "https"},
		{Name: ":path", Value: method}, {Name: ":authority", Value: testenv.RelayServerName},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"}}, extra...) {
		_ = h.enc.WriteField(f)
	}
	return bytes.Clone(h.buf.Bytes())
}

// streamEnds reads frames until stop says enough or the connection
// ends, and tallies how each stream ended: "refused" (RST_STREAM
// REFUSED_STREAM), "reset" (another RST_STREAM), "status N" (trailers).
func (h *h2) streamEnds(t *testing.T, bound time.Duration, stop func(map[uint32]string) bool) (map[uint32]string, error) {
	t.Helper()
	ends := map[uint32]string{}
	_ = h.conn.SetReadDeadline(time.Now().Add(bound))
	for !stop(ends) {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return ends, err
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if _, done := ends[f.StreamID]; done {
				break // the RST_STREAM NO_ERROR after an answer to a request not yet half-closed
			}
			if f.ErrCode == http2.ErrCodeRefusedStream {
				ends[f.StreamID] = "refused"
			} else {
				ends[f.StreamID] = "reset " + f.ErrCode.String()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				ends[f.StreamID] = "status " + f.PseudoValue("status") + " grpc-status " + headerValue(f, "grpc-status")
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.mu.Lock()
				_ = h.fr.WriteSettingsAck()
				h.mu.Unlock()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h.mu.Lock()
				_ = h.fr.WritePing(true, f.Data)
				h.mu.Unlock()
			}
		case *http2.GoAwayFrame:
			return ends, fmt.Errorf("GOAWAY %v", f.ErrCode)
		}
	}
	return ends, nil
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

// 10,000 streams opened on one authenticated connection, none sending a
// body: past MaxConcurrentStreams each is refused; those let in end with
// DEADLINE_EXCEEDED at the call timeout, never reaching the driver.
func TestStreamFlood(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := startBinary(t, d.Endpoint, certs, "--call-timeout=2s")
	h := dialH2(t, r.Addr, certs, certs.ClientCert, certs.ClientKey)
	const n = 10000
	block := h.headers("/csi.v1.Identity/Probe")
	written := make(chan error, 1)
	go func() {
		for i := uint32(0); i < n; i++ {
			h.mu.Lock()
			err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 2*i + 1, BlockFragment: block, EndHeaders: true})
			h.mu.Unlock()
			if err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	ends, err := h.streamEnds(t, 60*time.Second, func(e map[uint32]string) bool { return len(e) == n })
	require.NoError(t, err, "the connection stays up")
	require.NoError(t, <-written)
	tally := map[string]int{}
	for _, e := range ends {
		tally[e]++
	}
	assert.Equal(t, n-relay.MaxConcurrentStreams, tally["refused"], "streams past the cap refused: %v", tally)
	assert.Equal(t, relay.MaxConcurrentStreams, tally["status 200 grpc-status 4"], "those let in end at the call timeout (DEADLINE_EXCEEDED): %v", tally)
	assert.NotContains(t, r.Text(), `"code":"OK"`)
	assert.NotContains(t, r.Text(), "code=OK", "no call reached the driver")
}

// A 1 MB header list is refused: its stream is reset and nothing is
// forwarded; the connection still serves a call afterwards.
func TestHeaderListTooLarge(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := startBinary(t, d.Endpoint, certs)
	h := dialH2(t, r.Addr, certs, certs.ClientCert, certs.ClientKey)
	var big []hpack.HeaderField
	raw := make([]byte, 6<<10)
	for i := 0; i < 160; i++ { // 160 × 8 KiB, Huffman-coded to more than 1 MB
		_, _ = rand.Read(raw)
		big = append(big, hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: base64.StdEncoding.EncodeToString(raw)})
	}
	block := h.headers("/csi.v1.Identity/GetPluginInfo", big...)
	require.Greater(t, len(block), 1<<20)
	const chunk = 16 << 10
	err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:chunk], EndHeaders: false})
	for off := chunk; off < len(block) && err == nil; off += chunk {
		end := min(off+chunk, len(block))
		err = h.fr.WriteContinuation(1, end == len(block), block[off:end])
	}
	if err == nil {
		var ends map[uint32]string
		ends, err = h.streamEnds(t, 30*time.Second, func(e map[uint32]string) bool { return e[1] != "" })
		if err == nil {
			assert.True(t, strings.HasPrefix(ends[1], "reset") || ends[1] == "refused", "stream 1 ends with a reset, not an answer: %q", ends[1])
		}
	}
	if err != nil { // the relay ended the whole connection: refused too
		t.Logf("the relay ended the connection: %v", err)
	}
	assert.NotContains(t, r.Text(), "GetPluginInfo", "nothing forwarded")
	_, err = info(client(t, r.Addr, certs.ClientCert, certs.ClientKey, certs.CAFile, testenv.RelayServerName))
	assert.NoError(t, err, "the relay serves calls after it")
	assert.Contains(t, r.Text(), "GetPluginInfo", "that call is logged, so the absence above means something")
}

// A connection made while the client certificate was valid is closed by
// the relay at its maximum age; the certificate, expired by then, is
// refused at the next handshake.
func TestMaxConnectionAge(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	// gRPC closes at the age ± 10%: 5.4 s at the earliest, after the
	// certificate's end (x509 keeps whole seconds).
	r := startBinary(t, d.Endpoint, certs, "--max-connection-age=6s", "--call-timeout=1s")
	now := time.Now()
	soon, soonKey := certs.Issue(t, relay.ClientAuth, "velero", now.Add(-time.Hour), now.Add(5*time.Second))
	conn := client(t, r.Addr, soon, soonKey, certs.CAFile, testenv.RelayServerName)
	_, err := info(conn)
	require.NoError(t, err, "a call while the certificate is valid")
	h := dialH2(t, r.Addr, certs, soon, soonKey)

	_, err = h.streamEnds(t, 60*time.Second, func(map[uint32]string) bool { return false })
	require.Error(t, err)
	goaway := strings.HasPrefix(err.Error(), "GOAWAY")
	if goaway { // then the close
		_, err = io.Copy(io.Discard, h.conn)
		assert.NoError(t, err, "after GOAWAY the relay closes the connection (EOF)")
	} else {
		assert.ErrorIs(t, err, io.EOF, "the relay closed the connection")
	}
	require.True(t, time.Now().After(now.Add(5*time.Second)), "the certificate has expired")
	_, err = info(conn)
	assert.Error(t, err, "the same client, redialling with the expired certificate, is refused")
	assert.Contains(t, r.Text(), "certificate has expired")
}

// A refused client's 240 KB certificate (thousands of SANs) makes one
// bounded log line; a run of refusals is logged at a bounded rate, the
// rest counted.
func TestRefusalLogBounded(t *testing.T) {
	d := testenv.StartGCEPDDriver(t)
	certs := testenv.NewRelayCerts(t)
	r := testenv.StartRelay(t, d.Endpoint, certs)
	now := time.Now()
	var names []string
	for i := 0; len(strings.Join(names, "")) < 232<<10; i++ { // with the DER around each, past 240 KB and under TLS's 256 KiB
		names = append(names, fmt.Sprintf("%04d.%s.example.com", i, strings.Repeat("x", 40)))
	}
	huge, hugeKey := certs.Sign(t, certs.ClientCA, &x509.Certificate{DNSNames: names, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	pemBytes, err := os.ReadFile(huge)
	require.NoError(t, err)
	block, _ := pem.Decode(pemBytes)
	require.NotNil(t, block)
	require.Greater(t, len(block.Bytes), 240_000, "a 240 KB certificate")

	start := time.Now()
	const tries = 30
	for i := 0; i < tries; i++ {
		_, err := info(client(t, r.Addr, huge, hugeKey, certs.CAFile, testenv.RelayServerName))
		require.Error(t, err)
	}
	var lines []string
	for _, l := range strings.Split(r.Text(), "\n") {
		if strings.Contains(l, "csi-relay refused a client") {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines, "the refusal is logged:\n%s", r.Text())
	for _, l := range lines {
		assert.Less(t, len(l), 2048, "a bounded line: %d bytes", len(l))
	}
	assert.Contains(t, lines[0], "more SANs", "the names are cut, and say so")
	// 10 at once, then one each 6 s.
	allowed := 10 + int(time.Since(start)/(6*time.Second)) + 1
	assert.LessOrEqual(t, len(lines), allowed, "%d refusals make at most %d lines", tries, allowed)
	assert.Less(t, len(lines), tries, "some refusals are counted, not logged")
}
