package main

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

// memCase is one row of the memory table: streams uploads of size bytes
// at once.
type memCase struct {
	streams int
	size    int64
}

func (c memCase) String() string {
	if c.streams == 1 {
		return human(c.size)
	}
	return fmt.Sprintf("%d x %s", c.streams, human(c.size))
}

// memResult is one cell: the plugin's peak RSS, the most of it that was
// anonymous memory (sampled: not the binary's own pages), MB/s over all
// streams.
type memResult struct {
	rss, anon int64
	idle      int64 // RSS after Init, before the first byte
	mbps      float64
	err       error
}

// benchMemory measures the plugin process's peak RSS through Velero's
// host while it uploads gzip streams to a sink endpoint (which keeps
// sizes and sha256 and drops the bytes, so 64 GiB needs no disk): single
// streams of BENCH_MEM_SIZES and BENCH_MEM_CONCURRENT (N x size) uploads
// at once, with the default memoryBudget, with 32Mi, and the AWS plugin
// beside. Each cell is a fresh plugin process.
func benchMemory(s *testenv.Script) {
	var cases []memCase
	for _, size := range parseSizes(s, "BENCH_MEM_SIZES", envOr("BENCH_MEM_SIZES", "1Gi,8Gi,64Gi")) {
		cases = append(cases, memCase{1, size})
	}
	if v := envOr("BENCH_MEM_CONCURRENT", "16x256Mi"); v != "none" {
		n, size, ok := strings.Cut(v, "x")
		streams, err := strconv.Atoi(n)
		if !ok || err != nil || streams < 1 {
			s.Fatalf("BENCH_MEM_CONCURRENT %q: want N x size, such as 16x256Mi", v)
		}
		cases = append(cases, memCase{streams, parseSizes(s, "BENCH_MEM_CONCURRENT", size)[0]})
	}
	sink := testenv.StartSink(s)
	creds := testenv.WriteCredentialsFile(s, "default", "bench", "bench-secret")
	ours := map[string]string{"bucket": bucket, "s3Url": sink.URL, "credentialsFile": creds}
	clients := []client{
		{name: "s3compat, default budget", plugin: "example.io/s3compat", dir: testenv.PluginDir(s), binaries: "velero-plugin-s3csi", config: ours},
		{name: "s3compat, memoryBudget 32Mi", plugin: "example.io/s3compat", dir: testenv.PluginDir(s), binaries: "velero-plugin-s3csi",
			config: withKey(ours, "memoryBudget", "32Mi")},
		{name: "velero-plugin-for-aws v1.14.3", plugin: "velero.io/aws", dir: awsPluginDir(s), binaries: "velero-plugin-for-aws",
			config: map[string]string{"bucket": bucket, "region": "us-east-1", "s3Url": sink.URL, "s3ForcePathStyle": "true", "credentialsFile": creds}},
	}
	budgets := []int64{config.DefaultMemoryBudget, 32 << 20}
	fmt.Printf("\nMemory: plugin peak RSS (VmHWM) through Velero v1.18.3's host, gzip uploads to a sink endpoint\n")
	table := map[memCase][]memResult{}
	for _, mc := range cases {
		for _, c := range clients {
			r := measureMemory(s, sink, c, mc)
			table[mc] = append(table[mc], r)
			fmt.Printf("  %-30s %-12s %s\n", c.name, mc, r)
		}
	}
	fmt.Printf("\n%-12s", "upload")
	for _, c := range clients {
		fmt.Printf(" %44s", c.name)
	}
	fmt.Println()
	for _, mc := range cases {
		fmt.Printf("%-12s", mc)
		for i, r := range table[mc] {
			cell := r.String()
			if i < len(budgets) && r.err == nil {
				verdict := "ok"
				if r.rss > budgets[i]+48<<20 {
					verdict = "OVER"
				}
				cell = fmt.Sprintf("%s (%s)", cell, verdict)
			}
			fmt.Printf(" %44s", cell)
		}
		fmt.Println()
	}
	fmt.Printf("target: peak RSS <= memoryBudget + 48 MiB (%s and %s) at every size and concurrency; anon: the part that is not\n"+
		"the plugin binary's own pages (file-backed, shared and reclaimable)\n",
		mib(budgets[0]+48<<20), mib(budgets[1]+48<<20))
	fmt.Printf("before the first byte, after Init:")
	for i, c := range clients {
		fmt.Printf(" %s %s;", c.name, mib(table[cases[0]][i].idle))
	}
	fmt.Println()
}

func (r memResult) String() string {
	if r.err != nil {
		msg := r.err.Error()
		if len(msg) > 60 {
			msg = msg[:60] + "..."
		}
		return "failed: " + msg
	}
	return fmt.Sprintf("%s (anon %s) %.0f MB/s", mib(r.rss), mib(r.anon), r.mbps)
}

// measureMemory runs one cell in a fresh plugin process and checks what
// the sink received against what was sent.
func measureMemory(s *testenv.Script, sink *testenv.Sink, c client, mc memCase) memResult {
	store, stop := startStore(s, c)
	defer stop()
	pid := testenv.PluginPID(c.binaries)
	idle, _ := residentNow(pid)
	stopSampling, anon := sampleAnon(pid)
	var wg sync.WaitGroup
	errs := make([]error, mc.streams)
	start := time.Now()
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("backups/mem-%d/mem-%d.tar.gz", i, i)
			src := newGzipSource(mc.size, uint64(i)) //nolint:gosec // small
			if errs[i] = store.PutObject(bucket, key, src); errs[i] != nil {
				src.Close()
				return
			}
			sent, size := src.result()
			if got, ok := sink.Object(bucket, key); !ok || got.SHA256 != sent || got.Size != size {
				errs[i] = fmt.Errorf("%s: the sink holds %d bytes %.12s, %d bytes %.12s were sent", key, got.Size, got.SHA256, size, sent)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopSampling()
	r := memResult{rss: testenv.PeakRSS(pid), anon: *anon, idle: idle, mbps: mbps(int64(mc.streams)*mc.size, elapsed)}
	for _, err := range errs {
		if err != nil {
			r.err = err
			break
		}
	}
	return r
}

// sampleAnon follows the anonymous resident memory of process pid (its
// resident pages less those shared with files, from /proc/pid/statm)
// every 10 ms; stop ends it, and peak is the most seen then.
func sampleAnon(pid int) (stop func(), peak *int64) {
	peak = new(int64)
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, a := residentNow(pid); a > 0 {
				*peak = max(*peak, a)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-ended }, peak
}

// residentNow is process pid's resident memory and the part of it not
// shared with files (/proc/pid/statm); 0, 0 when it cannot be read.
func residentNow(pid int) (rss, anon int64) {
	var size, resident, shared int64
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, 0
	}
	_, _ = fmt.Sscan(string(b), &size, &resident, &shared)
	page := int64(os.Getpagesize())
	return resident * page, (resident - shared) * page
}

// gzipSource streams a gzip body of about size bytes (stored blocks of
// random data: an incompressible .tar.gz) and hashes what it sends.
type gzipSource struct {
	*io.PipeReader
	done chan struct{}
	sum  string
	n    int64
}

func newGzipSource(size int64, seed uint64) *gzipSource {
	pr, pw := io.Pipe()
	g := &gzipSource{PipeReader: pr, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		out := &sent{w: pw, h: sha256.New()}
		bw := bufio.NewWriterSize(out, 1<<20)
		zw, _ := gzip.NewWriterLevel(bw, gzip.NoCompression)
		buf := make([]byte, 1<<20)
		rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
		_, _ = rng.Read(buf)
		payload := size - 18 - 5*((size+65534)/65535) // stored blocks: 5 bytes per 64 KiB, an 18-byte frame
		var err error
		for payload > 0 && err == nil {
			n := min(int64(len(buf)), payload)
			_, err = zw.Write(buf[:n])
			payload -= n
		}
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		g.sum, g.n = hex.EncodeToString(out.h.Sum(nil)), out.n
		pw.CloseWithError(err)
	}()
	return g
}

// result is the sha256 and size of what was sent, once all of it was.
func (g *gzipSource) result() (string, int64) {
	<-g.done
	return g.sum, g.n
}

// sent passes what it is given on to w, hashing and counting it.
type sent struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (t *sent) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.h.Write(p[:n])
	t.n += int64(n)
	return n, err
}

// withKey is a copy of m with k set to v.
func withKey(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// awsPluginDir is a plugin folder holding only velero-plugin-for-aws.
func awsPluginDir(s *testenv.Script) string {
	dir := s.TempDir()
	if err := os.Symlink(testenv.Tool(s, "velero-plugin-for-aws"), filepath.Join(dir, "velero-plugin-for-aws")); err != nil {
		s.Fatal(err)
	}
	return dir
}
