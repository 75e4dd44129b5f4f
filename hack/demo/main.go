// Command demo runs the plugin's main job on a local default: a local
// MinIO, the plugin loaded by Velero's own plugin host, and a backup's
// worth of objects written, listed, downloaded by signed URL, read back
// as a restore would, and deleted. `make demo` runs it.
package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

const (
	bucket = "velero"
	backup = "demo-backup"
	// tarball is the size of the backup's content before compression.
	tarball = 400 << 20
)

func main() {
	testenv.ServeIfPluginProcess()
	s := &testenv.Script{}
	defer s.Close()
	start := time.Now()

	step("start MinIO on 127.0.0.1 (built by `make tools`)")
	srv := testenv.StartMinIO(s, testenv.MinIOOptions{})
	if err := srv.Client().MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		s.Fatalf("make bucket: %v", err)
	}
	fmt.Printf("  MinIO at %s, bucket %q\n", srv.Endpoint, bucket)

	step("build the plugin and load it with Velero's plugin host (pkg/plugin/clientmgmt)")
	dir := testenv.PluginDir(s)
	h := testenv.StartHost(s, dir, logrus.InfoLevel, "--log-level=info")
	h.Logs.Logger.SetOutput(os.Stdout)
	h.Logs.Logger.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	store, err := h.Manager.GetObjectStore("example.io/s3compat")
	must(s, err)
	bsl := map[string]string{
		"bucket": bucket, "prefix": "", "s3Url": srv.Endpoint,
		"credentialsFile": srv.CredentialsFile(s), "progressInterval": "2s",
	}
	fmt.Printf("  BSL config: bucket=%s s3Url=%s credentialsFile=<file> (region, path style defaulted)\n", bucket, srv.Endpoint)
	must(s, store.Init(bsl))

	step(fmt.Sprintf("back up: stream a %d MiB tar.gz of unknown size through the plugin", tarball>>20))
	prefix := "backups/" + backup + "/"
	sum, size := putTarball(s, store, prefix+backup+".tar.gz")
	fmt.Printf("  wrote %s%s.tar.gz: %d bytes, sha256 %x\n", prefix, backup, size, sum[:8])
	putGzip(s, store, prefix+backup+"-logs.gz", "level=info msg=\"Backup completed\" backup=velero/"+backup+"\n")
	putGzip(s, store, prefix+backup+"-resource-list.json.gz", `{"v1/Namespace":["demo"]}`)
	must(s, store.PutObject(bucket, prefix+"velero-backup.json", strings.NewReader(`{"kind":"Backup","metadata":{"name":"`+backup+`"}}`)))

	step("list as Velero's backup sync does")
	prefixes, err := store.ListCommonPrefixes(bucket, "backups/", "/")
	must(s, err)
	fmt.Printf("  ListCommonPrefixes(backups/, /) = %v\n", prefixes)
	keys, err := store.ListObjects(bucket, prefix)
	must(s, err)
	for _, k := range keys {
		fmt.Printf("  %s\n", k)
	}

	step("`velero backup logs`: download the log through a signed URL")
	signed, err := store.CreateSignedURL(bucket, prefix+backup+"-logs.gz", 10*time.Minute)
	must(s, err)
	fmt.Println("  signed URL made (not printed: it is a credential)")
	fmt.Printf("  log: %s", fetchGzip(s, signed))

	step("restore: read the tarball back and check every byte")
	got, n, entries := readTarball(s, store, prefix+backup+".tar.gz")
	if got != sum || n != size {
		s.Fatalf("read back %d bytes with sha256 %x, wrote %d with %x", n, got[:8], size, sum[:8])
	}
	fmt.Printf("  read %d bytes, sha256 matches, %d tar entries\n", n, entries)

	step("a failed backup leaves nothing: a tarball cut short is refused")
	err = store.PutObject(bucket, "backups/broken/broken.tar.gz", &cutShort{r: io.LimitReader(tarGz(64<<20), 20<<20)})
	fmt.Printf("  PutObject error seen by Velero: %v\n", err)
	// Velero's host returns at once; the plugin is still aborting.
	fmt.Printf("  the plugin says: %s\n", waitForLine(s, h, "put object failed"))
	ok, err := store.ObjectExists(bucket, "backups/broken/broken.tar.gz")
	must(s, err)
	fmt.Printf("  object exists after the failure: %v\n", ok)
	if ok {
		s.Fatalf("a broken upload left an object")
	}

	step("`velero backup delete`: remove the backup's objects")
	for _, k := range keys {
		must(s, store.DeleteObject(bucket, k))
	}
	left, err := store.ListObjects(bucket, prefix)
	must(s, err)
	fmt.Printf("  objects left under %s: %d\n", prefix, len(left))
	if len(left) != 0 {
		s.Fatalf("objects left after delete: %v", left)
	}
	fmt.Printf("\ndemo passed in %s\n", time.Since(start).Round(time.Second))
}

// waitForLine waits up to 30 s for a plugin log line starting with msg.
func waitForLine(s *testenv.Script, h *testenv.Host, msg string) string {
	for i := 0; i < 300; i++ {
		for _, e := range h.Logs.Entries() {
			if strings.HasPrefix(e.Message, msg) {
				return fmt.Sprintf("%s: %v", e.Message, e.Data["error"])
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Fatalf("the plugin logged no %q line", msg)
	return ""
}

func step(what string) { fmt.Printf("\n==> %s\n", what) }

func must(s *testenv.Script, err error) {
	if err != nil {
		s.Fatalf("%v", err)
	}
}

// tarGz streams a tar.gz of size bytes of half-compressible files.
func tarGz(size int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 1<<20)
		for i := 0; int64(i)<<20 < size; i++ {
			for j := 0; j < len(buf); j += 8 {
				v := rng.Uint64() & 0x0f0f0f0f0f0f0f0f // half the bits random
				for k := 0; k < 8; k++ {
					buf[j+k] = byte(v >> (8 * k))
				}
			}
			hdr := &tar.Header{Name: fmt.Sprintf("resources/pods/namespaces/demo/pod-%04d.bin", i), Mode: 0o644, Size: int64(len(buf))}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := tw.Write(buf); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		tw.Close()
		zw.Close()
		pw.Close()
	}()
	return pr
}

func putTarball(s *testenv.Script, store velero.ObjectStore, key string) ([32]byte, int64) {
	h := sha256.New()
	counter := &countingReader{r: io.TeeReader(tarGz(tarball), h)}
	must(s, store.PutObject(bucket, key, counter))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, counter.n
}

func readTarball(s *testenv.Script, store velero.ObjectStore, key string) ([32]byte, int64, int) {
	rc, err := store.GetObject(bucket, key)
	must(s, err)
	defer rc.Close()
	h := sha256.New()
	counter := &countingReader{r: io.TeeReader(rc, h)}
	zr, err := gzip.NewReader(counter)
	must(s, err)
	tr := tar.NewReader(zr)
	entries := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(s, err)
		entries++
	}
	_, err = io.Copy(io.Discard, counter) // the gzip trailer
	must(s, err)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, counter.n, entries
}

func putGzip(s *testenv.Script, store velero.ObjectStore, key, text string) {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, _ = zw.Write([]byte(text))
		zw.Close()
		pw.Close()
	}()
	must(s, store.PutObject(bucket, key, pr))
	fmt.Printf("  wrote %s\n", key)
}

func fetchGzip(s *testenv.Script, signed string) string {
	resp, err := http.Get(signed) //nolint:noctx,gosec // a local demo
	if err != nil {
		// Not err itself: a *url.Error quotes the signed URL, a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s.Fatalf("GET the signed URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.Fatalf("signed URL answered %s", resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	must(s, err)
	b, err := io.ReadAll(zr)
	must(s, err)
	return string(b)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// cutShort fails after its data, as a backup whose writer broke; Velero's
// host turns that into a clean end of stream.
type cutShort struct{ r io.Reader }

func (c *cutShort) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, fmt.Errorf("tar writer failed")
	}
	return n, err
}
