package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"example.io/velero-plugin-s3csi/internal/testenv"
)

// The metadata bench: Velero's small calls, which are most of its
// traffic. BENCH_META_BACKUPS backups (default 100) of the objects Velero
// v1.18.3 writes (backupObjects), then the calls that read them, per
// plugin, in a fresh plugin process per client and round, clients taking
// turns (the order rotates every round):
//
//	write   ObjectExists of the new backup's velero-backup.json (Velero's
//	        BackupExists, false), then its ten PutObject calls in order
//	exists  ObjectExists of each backup's velero-backup.json (true) and of
//	        an optional list it does not have (tryGet's check, false)
//	sync    ListCommonPrefixes of backups/ and GetObject of each
//	        velero-backup.json (a first backup sync)
//	delete  ListObjects of each backup's folder and DeleteObject of each
//	        key (Velero's DeleteBackup)
//
// BENCH_META_ROUNDS rounds (default 3). BENCH_META_EXTRA, a comma list of
// key=value BSL keys, adds a client: this plugin with those keys on top. BENCH_SYNC_BACKUPS (default 10000, 0 for none) adds the
// sync at scale (syncScale).

// metaPhases are the phases in the order they run.
var metaPhases = []string{"write", "exists", "sync", "delete"}

// phaseResult is one phase's figures over the rounds.
type phaseResult struct {
	secs []float64
	cpu  []float64 // plugin process CPU seconds
	rss  int64     // the most of the phases' peak RSS
}

func benchMeta(s *testenv.Script) {
	n := envInt("BENCH_META_BACKUPS", 100)
	rounds := envInt("BENCH_META_ROUNDS", 3)
	srv := testenv.StartMinIO(s, testenv.MinIOOptions{})
	clients := metaClients(s, srv)
	objs := backupObjects()
	var sizes []string
	for _, o := range objs {
		sizes = append(sizes, fmt.Sprintf("%s %s", strings.TrimPrefix(o.suffix, "{name}"), humanBytes(len(o.body))))
	}
	fmt.Printf("\nVelero's small calls: %d backups of %d objects (%s), MinIO on 127.0.0.1, %d CPUs, through Velero v1.18.3's plugin host;\n"+
		"a fresh plugin process per client and round, clients take turns\n", n, len(objs), strings.Join(sizes, ", "), runtime.NumCPU())
	table := map[string]map[string]*phaseResult{}
	for _, c := range clients {
		table[c.name] = map[string]*phaseResult{}
		for _, p := range metaPhases {
			table[c.name][p] = &phaseResult{}
		}
		if err := srv.Client().MakeBucket(context.Background(), c.config["bucket"], minio.MakeBucketOptions{}); err != nil {
			s.Fatalf("make bucket: %v", err)
		}
	}
	for r := 0; r < rounds; r++ {
		for i := range clients {
			c := clients[(i+r)%len(clients)]
			metaRound(s, c, n, objs, table[c.name])
			fmt.Printf("  round %d %-34s", r+1, c.name)
			for _, p := range metaPhases {
				pr := table[c.name][p]
				fmt.Printf(" %s %.2fs", p, pr.secs[len(pr.secs)-1])
			}
			fmt.Println()
		}
	}
	printMeta(clients, n, table)
}

// metaClients are the plugins compared: the aws plugin first, this
// plugin second, then this plugin with encryption of every .gz key (the
// cost of age on small objects), with every object signed and checked
// (the cost of a .minisig beside each) and BENCH_META_EXTRA's client. Each has
// its own bucket on the one server.
func metaClients(s *testenv.Script, srv *testenv.S3Server) []client {
	creds := srv.CredentialsFile(s)
	ours := func(name, bucket string, more ...string) client {
		cfg := map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": creds}
		for i := 0; i+1 < len(more); i += 2 {
			cfg[more[i]] = more[i+1]
		}
		return client{name: name, plugin: "example.io/s3compat", dir: testenv.PluginDir(s), binaries: "velero-plugin-s3csi", config: cfg}
	}
	age := testenv.NewAgeKey(s)
	sk := testenv.NewMinisignKey(s)
	clients := []client{
		{name: "velero-plugin-for-aws v1.14.3", plugin: "velero.io/aws", dir: awsPluginDir(s), binaries: "velero-plugin-for-aws",
			config: map[string]string{"bucket": "meta-aws", "region": "minio", "s3Url": srv.Endpoint, "s3ForcePathStyle": "true", "credentialsFile": creds}},
		ours("example.io/s3compat", "meta-ours"),
		ours("s3compat, age on every .gz", "meta-age", "encryptionRecipients", age.Recipient, "encryptionIdentityFile", age.File, "encryptionScope", "allGzip"),
		ours(signedName, "meta-signed", "signingKeyFile", sk.File, "requireSignatures", "true"),
	}
	if extra := os.Getenv("BENCH_META_EXTRA"); extra != "" {
		var kv []string
		for _, f := range strings.Split(extra, ",") {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				s.Fatalf("BENCH_META_EXTRA %q: want key=value,...", extra)
			}
			kv = append(kv, k, v)
		}
		clients = append(clients, ours("s3compat + "+extra, "meta-extra", kv...))
	}
	if dir := os.Getenv("BENCH_COMPARE_DIR"); dir != "" {
		c := ours("s3compat from BENCH_COMPARE_DIR", "meta-compare")
		c.dir = dir
		clients = append(clients, c)
	}
	return clients
}

// metaRound runs the four phases once for c in a fresh plugin process.
func metaRound(s *testenv.Script, c client, n int, objs []metaObject, res map[string]*phaseResult) {
	store, stop := startStore(s, c)
	defer stop()
	pid := testenv.PluginPID(c.binaries)
	bucket := c.config["bucket"]
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("nightly-%05d", i)
	}
	phase := func(name string, f func() error) {
		resetPeakRSS(pid)
		cpu0 := pluginCPU(c.binaries)
		start := time.Now()
		if err := f(); err != nil {
			s.Fatalf("%s %s: %v", c.name, name, err)
		}
		r := res[name]
		r.secs = append(r.secs, time.Since(start).Seconds())
		r.cpu = append(r.cpu, (pluginCPU(c.binaries) - cpu0).Seconds())
		r.rss = max(r.rss, testenv.PeakRSS(pid))
	}
	phase("write", func() error {
		for _, b := range names {
			if ok, err := store.ObjectExists(bucket, "backups/"+b+"/velero-backup.json"); err != nil || ok {
				return fmt.Errorf("backup %s exists before it is written (%v)", b, err)
			}
			for _, o := range objs {
				if err := store.PutObject(bucket, "backups/"+b+"/"+strings.ReplaceAll(o.suffix, "{name}", b), &veleroBody{r: bytes.NewReader(o.body)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	phase("exists", func() error {
		for _, b := range names {
			if ok, err := store.ObjectExists(bucket, "backups/"+b+"/velero-backup.json"); err != nil || !ok {
				return fmt.Errorf("backup %s: velero-backup.json not found (%v)", b, err)
			}
			if ok, err := store.ObjectExists(bucket, "backups/"+b+"/"+b+"-csi-volumesnapshots.json.gz"); err != nil || ok {
				return fmt.Errorf("backup %s: a list it does not have is there (%v)", b, err)
			}
		}
		return nil
	})
	phase("sync", func() error { return syncAll(store, bucket, "backups/", n, true) })
	phase("delete", func() error {
		for _, b := range names {
			keys, err := store.ListObjects(bucket, "backups/"+b+"/")
			if err != nil {
				return err
			}
			if len(keys) != len(objs)-1 { // velero-backup.json is written twice
				return fmt.Errorf("backup %s has %d objects, want %d", b, len(keys), len(objs)-1)
			}
			for _, k := range keys {
				if err := store.DeleteObject(bucket, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// syncAll is Velero's backup sync: ListCommonPrefixes of prefix, and with
// get the GetObject of each backup's velero-backup.json, read whole.
func syncAll(store velero.ObjectStore, bucket, prefix string, want int, get bool) error {
	dirs, err := store.ListCommonPrefixes(bucket, prefix, "/")
	if err != nil {
		return err
	}
	if len(dirs) != want {
		return fmt.Errorf("listed %d backups, want %d", len(dirs), want)
	}
	if !get {
		return nil
	}
	for _, d := range dirs {
		rc, err := store.GetObject(bucket, d+"velero-backup.json")
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// veleroBody is a body as Velero hands one to PutObject: a file it seeks
// to the start, read by the host in 16 KiB messages; hidden behind a
// plain reader so that no client sees a size.
type veleroBody struct{ r io.Reader }

func (v *veleroBody) Read(p []byte) (int, error) { return v.r.Read(p) }

// resetPeakRSS starts process pid's peak RSS (VmHWM) again from its RSS
// now (Linux: "5" to clear_refs), so a phase's peak is its own.
func resetPeakRSS(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

func printMeta(clients []client, n int, t map[string]map[string]*phaseResult) {
	fmt.Printf("\n%-34s", "client (median seconds)")
	for _, p := range metaPhases {
		fmt.Printf(" %9s", p)
	}
	fmt.Printf("   %s\n", "plugin CPU s / peak RSS MiB per phase (write, exists, sync, delete)")
	for _, c := range clients {
		fmt.Printf("%-34s", c.name)
		for _, p := range metaPhases {
			fmt.Printf(" %9.2f", median(t[c.name][p].secs))
		}
		fmt.Print("  ")
		for _, p := range metaPhases {
			r := t[c.name][p]
			fmt.Printf(" %.2f/%d", median(r.cpu), r.rss>>20)
		}
		fmt.Println()
	}
	aws, ours := clients[0].name, clients[1].name
	fmt.Printf("\n%s against %s (time ratio; below 1 is faster; target <= 1.0, write <= 0.83):", ours, aws)
	for _, p := range metaPhases {
		fmt.Printf(" %s %.2fx", p, median(t[ours][p].secs)/median(t[aws][p].secs))
	}
	puts := float64(n * len(backupObjects()))
	fmt.Printf("\nwrite: %.2f ms a PutObject (with the backup's ObjectExists) against %.2f ms\n",
		1000*median(t[ours]["write"].secs)/puts, 1000*median(t[aws]["write"].secs)/puts)
	for _, c := range clients[2:] {
		fmt.Printf("%s against plain:", c.name)
		for _, p := range metaPhases {
			fmt.Printf(" %s %.2fx", p, median(t[c.name][p].secs)/median(t[ours][p].secs))
		}
		fmt.Println()
	}
}

func humanBytes(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// syncScale is Velero's backup sync over many backups: BENCH_SYNC_BACKUPS
// (default 10000) velero-backup.json objects written once with minio-go,
// and a tenth as many under another prefix, then per client and round, in
// a fresh process, ListCommonPrefixes of each (the every-minute sync,
// pages of 1,000) and of the large one with GetObject of each backup (a
// first sync): time per listed backup, and peak RSS.
func syncScale(s *testenv.Script) {
	big := envInt("BENCH_SYNC_BACKUPS", 10000)
	if os.Getenv("BENCH_SYNC_BACKUPS") == "0" {
		return
	}
	rounds := envInt("BENCH_META_ROUNDS", 3)
	small := big / 10
	srv := testenv.StartMinIO(s, testenv.MinIOOptions{})
	clients := metaClients(s, srv)[:2]
	const bucket = "sync"
	for i := range clients {
		clients[i].config["bucket"] = bucket
	}
	ctx := context.Background()
	if err := srv.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		s.Fatalf("make bucket: %v", err)
	}
	body := backupJSON("Completed")
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	keys := make(chan string)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				if _, err := srv.Client().PutObject(ctx, bucket, k, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < big+small; i++ {
		prefix := "large/backups/"
		if i >= big {
			prefix = "small/backups/"
		}
		keys <- fmt.Sprintf("%sb-%06d/velero-backup.json", prefix, i)
	}
	close(keys)
	wg.Wait()
	select {
	case err := <-errs:
		s.Fatalf("writing %d backups: %v", big+small, err)
	default:
	}
	fmt.Printf("\nBackup sync at scale: %d and %d backups written with minio-go in %s\n", small, big, time.Since(start).Round(time.Second))
	type cell struct {
		secs []float64
		rss  int64
	}
	cases := []struct {
		name   string
		prefix string
		n      int
		get    bool
	}{
		{fmt.Sprintf("list %d", small), "small/backups/", small, false},
		{fmt.Sprintf("list %d", big), "large/backups/", big, false},
		{fmt.Sprintf("list+get %d", big), "large/backups/", big, true},
	}
	table := map[string][]cell{}
	for r := 0; r < rounds; r++ {
		for i := range clients {
			c := clients[(i+r)%len(clients)]
			if table[c.name] == nil {
				table[c.name] = make([]cell, len(cases))
			}
			store, stop := startStore(s, c)
			pid := testenv.PluginPID(c.binaries)
			for j, k := range cases {
				resetPeakRSS(pid)
				t0 := time.Now()
				if err := syncAll(store, bucket, k.prefix, k.n, k.get); err != nil {
					s.Fatalf("%s %s: %v", c.name, k.name, err)
				}
				table[c.name][j].secs = append(table[c.name][j].secs, time.Since(t0).Seconds())
				table[c.name][j].rss = max(table[c.name][j].rss, testenv.PeakRSS(pid))
			}
			stop()
		}
	}
	fmt.Printf("%-34s", "client (median, per listed backup)")
	for _, k := range cases {
		fmt.Printf(" %22s", k.name)
	}
	fmt.Println()
	for _, c := range clients {
		fmt.Printf("%-34s", c.name)
		for j, k := range cases {
			x := table[c.name][j]
			fmt.Printf(" %8.1f us %5d MiB", 1e6*median(x.secs)/float64(k.n), x.rss>>20)
		}
		fmt.Println()
	}
	aws, ours := clients[0].name, clients[1].name
	fmt.Printf("%s against %s (target <= 1.1x):", ours, aws)
	for j, k := range cases {
		fmt.Printf(" %s %.2fx", k.name, median(table[ours][j].secs)/median(table[aws][j].secs))
	}
	fmt.Printf("\nlinear: time per listed backup at %d against %d: %.2fx (1.0 is linear)\n", big, small,
		(median(table[ours][1].secs)/float64(big))/(median(table[ours][0].secs)/float64(small)))
}
