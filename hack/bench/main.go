// Command bench measures PutObject and GetObject of large gzip objects
// through Velero's plugin host for this plugin and velero-plugin-for-aws
// on the same local MinIO, with a direct minio-go client as the machine's
// limit, and prints MB/s and each plugin process's peak RSS; then the
// memory table (peak RSS of large and concurrent uploads against a sink
// endpoint, by memoryBudget, see mem.go); then times CSI snapshots through
// the host against direct driver calls. `make bench` runs it; BENCH_SIZES
// (e.g. "256Mi,1Gi"), BENCH_RUNS, BENCH_MEM_SIZES (default "1Gi,8Gi,64Gi"),
// BENCH_MEM_CONCURRENT (default "16x256Mi", "none" for none),
// BENCH_ONLY (s3, mem or csi, or a comma list) change the plan, and
// BENCH_COMPARE_DIR, a folder with another build of this plugin, adds it
// to the throughput table. The throughput rounds include this plugin
// with the backup contents encrypted with age (encryptionRecipients), and
// with every object signed and checked (signingKeyFile, requireSignatures).
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/config"
	"example.io/velero-plugin-s3csi/internal/testenv"
)

const (
	bucket = "bench"
	key    = "backups/bench/bench.tar.gz" // the backup contents: encrypted when encryptionRecipients is set
	// encryptedName is the client whose BSL sets encryptionRecipients.
	encryptedName = "s3compat, encrypted (age)"
	// signedName is the client whose BSL signs (signingKeyFile) and
	// checks every read (requireSignatures).
	signedName = "s3compat, signed (minisign)"
)

type client struct {
	name     string
	plugin   string // Velero provider name; "" for the direct client
	dir      string // plugin folder
	config   map[string]string
	binaries string // process name to find the plugin's pid
}

type result struct {
	mbps []float64
	rss  int64 // peak RSS in bytes, max over runs
}

func main() {
	testenv.ServeIfPluginProcess()
	s := &testenv.Script{}
	defer s.Close()
	sizes := parseSizes(s, "BENCH_SIZES", envOr("BENCH_SIZES", "1Gi,4Gi"))
	runs, _ := strconv.Atoi(envOr("BENCH_RUNS", "3"))
	only := os.Getenv("BENCH_ONLY")
	run := func(part string) bool { return only == "" || slices.Contains(strings.Split(only, ","), part) }
	if run("s3") {
		benchS3(s, sizes, runs)
	}
	if run("mem") {
		benchMemory(s)
	}
	if run("csi") {
		benchCSI(s, 20)
	}
}

func benchS3(s *testenv.Script, sizes []int64, runs int) {
	srv := testenv.StartMinIO(s, testenv.MinIOOptions{})
	if err := srv.Client().MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		s.Fatalf("make bucket: %v", err)
	}
	creds := srv.CredentialsFile(s)
	awsDir := awsPluginDir(s)
	clients := []client{
		{name: "minio-go direct"},
		{name: "velero-plugin-for-aws v1.14.3", plugin: "velero.io/aws", dir: awsDir, binaries: "velero-plugin-for-aws",
			config: map[string]string{"bucket": bucket, "region": "minio", "s3Url": srv.Endpoint, "s3ForcePathStyle": "true", "credentialsFile": creds}},
		{name: "example.io/s3compat", plugin: "example.io/s3compat", dir: testenv.PluginDir(s), binaries: "velero-plugin-s3csi",
			config: map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": creds}},
	}
	// The same plugin with the backup contents encrypted with age, and
	// decrypted on the way back: what encryption costs.
	age := testenv.NewAgeKey(s)
	clients = append(clients, client{name: encryptedName, plugin: "example.io/s3compat", dir: testenv.PluginDir(s), binaries: "velero-plugin-s3csi",
		config: map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": creds,
			"encryptionRecipients": age.Recipient, "encryptionIdentityFile": age.File}})
	// The same plugin signing every object (minisign, BLAKE2b-512 of the
	// stream) and checking the signature on the way back, unencrypted.
	sk := testenv.NewMinisignKey(s)
	clients = append(clients, client{name: signedName, plugin: "example.io/s3compat", dir: testenv.PluginDir(s), binaries: "velero-plugin-s3csi",
		config: map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": creds,
			"signingKeyFile": sk.File, "requireSignatures": "true"}})
	if dir := os.Getenv("BENCH_COMPARE_DIR"); dir != "" {
		// Another build of this plugin (say the last release's, or main's
		// before a change), measured in the same rounds.
		clients = append(clients, client{name: "s3compat from BENCH_COMPARE_DIR", plugin: "example.io/s3compat", dir: dir, binaries: "velero-plugin-s3csi",
			config: map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": creds}})
	}
	fmt.Printf("MinIO %s on 127.0.0.1, %d CPUs; gzip objects streamed through Velero v1.18.3's plugin host (it sends 16 KiB gRPC messages); clients take turns in each round\n\n", srv.Endpoint, runtime.NumCPU())

	table := map[string]map[int64]map[string]*result{}
	for _, size := range sizes {
		data, actual := makeGzip(s, size)
		n := runs
		if size > 1<<30 {
			n = 1
		}
		for _, c := range clients {
			if table[c.name] == nil {
				table[c.name] = map[int64]map[string]*result{}
			}
			table[c.name][size] = map[string]*result{"put": {}, "get": {}}
		}
		for i := 0; i < n; i++ { // rounds, so that a busy spell of the machine hits every client alike
			for _, c := range clients {
				for _, op := range []string{"put", "get"} {
					r := table[c.name][size][op]
					mbps, rss := measure(s, srv, c, op, data, actual)
					r.mbps = append(r.mbps, mbps)
					r.rss = max(r.rss, rss)
					fmt.Printf("  %-32s %-4s %5s run %d: %7.1f MB/s  peak RSS %s\n", c.name, op, human(size), i+1, mbps, mib(r.rss))
				}
			}
		}
		os.Remove(data)
	}
	printTable(clients, sizes, table)
}

// measure runs one put or get and returns MB/s and the plugin's peak RSS.
func measure(s *testenv.Script, srv *testenv.S3Server, c client, op, data string, size int64) (float64, int64) {
	f, err := os.Open(data)
	if err != nil {
		s.Fatal(err)
	}
	defer f.Close()
	body := bufio.NewReaderSize(f, 1<<20) // not seekable: as Velero's stream
	start := time.Now()
	if c.plugin == "" {
		ctx := context.Background()
		if op == "put" {
			_, err = srv.Client().PutObject(ctx, bucket, key, body, -1, minio.PutObjectOptions{PartSize: 16 << 20})
		} else {
			var obj *minio.Object
			if obj, err = srv.Client().GetObject(ctx, bucket, key, minio.GetObjectOptions{}); err == nil {
				err = drain(obj, size)
			}
		}
		if err != nil {
			s.Fatalf("%s %s: %v", c.name, op, err)
		}
		return mbps(size, time.Since(start)), 0
	}
	store, stop := startStore(s, c)
	defer stop()
	cpu0, self0 := pluginCPU(c.binaries), selfCPU()
	start = time.Now()
	if op == "put" {
		err = store.PutObject(bucket, key, body)
	} else {
		var rc io.ReadCloser
		if rc, err = store.GetObject(bucket, key); err == nil {
			err = drain(rc, size)
			rc.Close()
		}
	}
	elapsed := time.Since(start)
	if err != nil {
		s.Fatalf("%s %s: %v", c.name, op, err)
	}
	gib := float64(size) / (1 << 30)
	fmt.Printf("    CPU per GiB: plugin %.2fs, host %.2fs\n", (pluginCPU(c.binaries)-cpu0).Seconds()/gib, (selfCPU()-self0).Seconds()/gib)
	return mbps(size, elapsed), testenv.PeakRSS(testenv.PluginPID(c.binaries))
}

// startStore starts c's plugin in a fresh process under Velero's host
// and inits it; stop ends the process.
func startStore(s *testenv.Script, c client) (store velero.ObjectStore, stop func()) {
	h := testenv.StartHost(s, c.dir, logrus.WarnLevel, "--log-level=warning")
	store, err := h.Manager.GetObjectStore(c.plugin)
	if err != nil {
		s.Fatal(err)
	}
	if err := store.Init(c.config); err != nil {
		s.Fatalf("%s init: %v", c.name, err)
	}
	return store, h.Manager.CleanupClients
}

func drain(r io.Reader, size int64) error {
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != size {
		err = fmt.Errorf("read %d bytes of %d", n, size)
	}
	return err
}

// makeGzip writes newGzipSource's stream of size bytes to a file,
// so every client reads the same data, and returns its path and size.
func makeGzip(s *testenv.Script, size int64) (string, int64) {
	p := filepath.Join(s.TempDir(), "bench.gz")
	f, err := os.Create(p)
	if err != nil {
		s.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(f, newGzipSource(size, 0))
	if err != nil {
		s.Fatal(err)
	}
	return p, n
}

// pluginCPU is the user+system CPU time of the plugin process so far.
func pluginCPU(name string) time.Duration {
	pid := testenv.PluginPID(name)
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100
}

// selfCPU is this process's CPU time: the host side of the transfer.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func printTable(clients []client, sizes []int64, t map[string]map[int64]map[string]*result) {
	fmt.Printf("\n%-32s %6s %12s %12s %16s %16s\n", "client", "size", "put MB/s", "get MB/s", "put peak RSS", "get peak RSS")
	for _, size := range sizes {
		for _, c := range clients {
			r := t[c.name][size]
			fmt.Printf("%-32s %6s %12.1f %12.1f %16s %16s\n", c.name, human(size), median(r["put"].mbps), median(r["get"].mbps), mib(r["put"].rss), mib(r["get"].rss))
		}
	}
	fmt.Println()
	ours, aws, direct := clients[2].name, clients[1].name, clients[0].name
	for _, size := range sizes {
		o, a, d := t[ours][size], t[aws][size], t[direct][size]
		fmt.Printf("%s: put %.2fx direct (target >= 0.9), %.2fx aws; get %.2fx aws (target >= 1.3), %.2fx direct; peak RSS %.2fx aws (target < 1)\n",
			human(size), median(o["put"].mbps)/median(d["put"].mbps), median(o["put"].mbps)/median(a["put"].mbps),
			median(o["get"].mbps)/median(a["get"].mbps), median(o["get"].mbps)/median(d["get"].mbps),
			float64(max(o["put"].rss, o["get"].rss))/float64(max(a["put"].rss, a["get"].rss)))
	}
	for _, size := range sizes {
		o, e := t[ours][size], t[encryptedName][size]
		fmt.Printf("%s: encrypted against plain: put %.2fx, get %.2fx (target >= 0.85); peak RSS put %s vs %s, get %s vs %s\n", human(size),
			median(e["put"].mbps)/median(o["put"].mbps), median(e["get"].mbps)/median(o["get"].mbps),
			mib(e["put"].rss), mib(o["put"].rss), mib(e["get"].rss), mib(o["get"].rss))
	}
	for _, size := range sizes {
		o, g := t[ours][size], t[signedName][size]
		fmt.Printf("%s: signed against plain: put %.2fx, get %.2fx (target >= 0.9); peak RSS put %s vs %s, get %s vs %s\n", human(size),
			median(g["put"].mbps)/median(o["put"].mbps), median(g["get"].mbps)/median(o["get"].mbps),
			mib(g["put"].rss), mib(o["put"].rss), mib(g["get"].rss), mib(o["get"].rss))
	}
	if len(clients) > 5 {
		other := clients[5].name
		for _, size := range sizes {
			o, b := t[ours][size], t[other][size]
			fmt.Printf("%s: this build against BENCH_COMPARE_DIR's: put %.2fx, get %.2fx\n", human(size),
				median(o["put"].mbps)/median(b["put"].mbps), median(o["get"].mbps)/median(b["get"].mbps))
		}
	}
	if len(sizes) > 1 {
		first, last := sizes[0], sizes[len(sizes)-1]
		fmt.Printf("peak RSS of %s from %s to %s: %s -> %s (target: flat)\n", ours, human(first), human(last),
			mib(max(t[ours][first]["put"].rss, t[ours][first]["get"].rss)), mib(max(t[ours][last]["put"].rss, t[ours][last]["get"].rss)))
	}
	fmt.Printf("(median of the runs; sizes above 1 GiB run once)\n")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e6 }

func mib(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

func human(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%dGi", n>>30)
	}
	return fmt.Sprintf("%dMi", n>>20)
}

// parseSizes reads v, the comma list of sizes that the variable name set;
// a size that is not one fails naming the variable.
func parseSizes(s *testenv.Script, name, v string) []int64 {
	var out []int64
	for _, f := range strings.Split(v, ",") {
		n, err := config.ParseSize(f)
		if err != nil {
			s.Fatalf("%s %q: %v", name, f, err)
		}
		out = append(out, n)
	}
	return out
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
