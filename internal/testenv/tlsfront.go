package testenv

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"example.io/velero-plugin-s3csi/relay"
)

// TLSFront is an https front on 127.0.0.1 for a plain-http server, with a
// certificate for "localhost" from a CA of its own: a server whose
// certificate a test chooses (trusted or not, expired or not).
type TLSFront struct {
	URL   string // https://localhost:PORT
	CAPEM []byte // the CA that signed the front's certificate
}

// StartTLSFront serves target behind TLS until the test ends. With
// expired, the certificate's validity ended an hour ago.
func StartTLSFront(t T, target string, expired bool) *TLSFront {
	t.Helper()
	now := time.Now()
	ca, err := relay.NewCA("test S3 CA", now.Add(-48*time.Hour), now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	from, to := now.Add(-time.Hour), now.Add(24*time.Hour)
	if expired {
		from, to = now.Add(-24*time.Hour), now.Add(-time.Hour)
	}
	certPEM, keyPEM, err := ca.Issue(relay.ServerAuth, "localhost", nil, from, to)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Handshakes that end early are what the tests make (doctor's TLS
	// check closes after its handshake; refused certificates): not logged.
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(u), ReadHeaderTimeout: time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		_ = srv.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return &TLSFront{URL: "https://localhost:" + port, CAPEM: ca.PEM}
}
