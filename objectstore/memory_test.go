package objectstore_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// A budget smaller than the parts drives every part through a spool file,
// in the plugin process under Velero's host: the object is whole, a part
// whose connection breaks is sent again from its file, the files are 0600
// and unnamed, and none is left open, after success and after failure.
func TestSpoolThroughHost(t *testing.T) {
	srv := startMinIO(t)
	proxy := testenv.StartProxy(t, srv.Endpoint)
	bucket := srv.MakeBucket(t)
	spool := t.TempDir()
	s, h := hostStore(t, srv, storeConfig(srv, bucket, "s3Url", proxy.URL, "memoryBudget", "10Mi",
		"multipartPartSize", "16Mi", "spoolDir", spool, "maxRetries", "2"))
	pid := testenv.PluginPID("velero-plugin-s3csi")
	require.NotZero(t, pid)
	f := settingsLine(t, h.Logs, 1)
	assert.Equal(t, "10MiB for the whole plugin process (BSL config)", f["memoryBudget"])
	assert.Equal(t, spool+" (BSL config)", f["spoolDir"])
	isPart2 := func(r *http.Request) bool { return r.URL.Query().Get("partNumber") == "2" }

	t.Run("spooled parts, one retried from its file", func(t *testing.T) {
		defer proxy.ClearFaults()
		reset := proxy.Inject(testenv.Fault{Kind: testenv.FaultReset, After: 1 << 20, Match: isPart2, Times: 1})
		data := gzipped(t, randomBytes(t, 40<<20)) // parts of 16, 16 and 8 MiB
		var open []spoolFD
		body := &pauseAt{r: stream(data), at: 20 << 20, do: func() { open = waitSpoolFDs(pid, spool) }}
		key := "backups/spool/spool.tar.gz"
		require.NoError(t, s.PutObject(bucket, key, body))
		assert.Equal(t, digest(data), digest(independentRead(t, srv, bucket, key)))
		assert.Equal(t, 1, reset.Hits())
		require.NotEmpty(t, open, "a part was being spooled at 20 MiB")
		for _, fd := range open {
			assert.Equal(t, os.FileMode(0o600), fd.mode, fd.target)
			assert.True(t, strings.HasSuffix(fd.target, " (deleted)"), "no name in the folder: %s", fd.target)
		}
		assertLogged(t, h.Logs, "info", "spooling parts to disk", "")
		assertSpoolGone(t, pid, spool)
	})
	t.Run("a spooled body sent in one request", func(t *testing.T) {
		data := randomBytes(t, 12<<20)
		require.NoError(t, s.PutObject(bucket, "single", stream(data)))
		assert.Equal(t, digest(data), digest(independentRead(t, srv, bucket, "single")))
		assertSpoolGone(t, pid, spool)
	})
	t.Run("a failed part: aborted, nothing left", func(t *testing.T) {
		defer proxy.ClearFaults()
		proxy.Inject(testenv.Fault{Kind: testenv.FaultStatus, Status: 403, Code: "AccessDenied", Match: isPart2})
		key := "backups/denied/denied.tar.gz"
		require.Error(t, s.PutObject(bucket, key, stream(gzipped(t, randomBytes(t, 40<<20)))))
		assertLogged(t, h.Logs, "error", "put object failed", "upload part 2")
		assertNoUploads(t, srv, bucket, key)
		assertSpoolGone(t, pid, spool)
	})
	t.Run("a body cut short: nothing committed, nothing left", func(t *testing.T) {
		data := gzipped(t, randomBytes(t, 40<<20))
		key := "backups/cut/cut.tar.gz"
		require.Error(t, s.PutObject(bucket, key, stream(data[:len(data)-100])))
		assertLogged(t, h.Logs, "error", "put object failed", "truncated")
		assertNoUploads(t, srv, bucket, key)
		assertSpoolGone(t, pid, spool)
	})
}

// Eight uploads and two downloads at once share a 16 MiB budget with
// 8 MiB parts: all complete with the right bytes, and the process never
// holds more than the budget in buffers. Without care the first parts
// alone would fill the budget while each upload waited for its second.
func TestTransfersShareOneBudget(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	s, _ := newStore(t, srv, storeConfig(srv, bucket, "memoryBudget", "16Mi", "multipartPartSize", "8Mi", "multipartConcurrency", "4"))
	stored := map[string][]byte{}
	for i := 0; i < 2; i++ {
		stored[fmt.Sprintf("down-%d", i)] = randomBytes(t, 12<<20)
		require.NoError(t, s.PutObject(bucket, fmt.Sprintf("down-%d", i), stream(stored[fmt.Sprintf("down-%d", i)])))
	}
	objectstore.ResetBudgetPeak()
	up := map[string][]byte{}
	for i := 0; i < 8; i++ {
		up[fmt.Sprintf("backups/c%d/c%d.tar.gz", i, i)] = gzipped(t, randomBytes(t, 18<<20+i<<20))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(up)+len(stored))
	for key, data := range up {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.PutObject(bucket, key, stream(data)) }()
	}
	got := map[string][]byte{}
	var mu sync.Mutex
	for key := range stored {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := s.GetObject(bucket, key)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(rc)
				rc.Close()
				mu.Lock()
				got[key] = b
				mu.Unlock()
			}
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("transfers still waiting after 5 minutes: a deadlock on the budget")
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for key, data := range up {
		assert.Equal(t, digest(data), digest(independentRead(t, srv, bucket, key)), key)
	}
	for key, data := range stored {
		assert.Equal(t, digest(data), digest(got[key]), key)
	}
	assert.LessOrEqual(t, objectstore.BudgetPeak(), int64(16<<20), "buffers held at once")
	assert.Zero(t, objectstore.BudgetHeld(), "every buffer given back")
}

// An upload that finds the budget taken by others and has no part of its
// own in memory spools instead of waiting. Here the budget holds one
// 8 MiB part: a first upload waits for its first part to be stored before
// its second gets the memory, and then holds it while its body pauses; a
// second upload runs to the end meanwhile, from spool files.
func TestUploadSpoolsWhenBudgetIsTaken(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	s, logs := newStore(t, srv, storeConfig(srv, bucket, "memoryBudget", "10Mi", "multipartPartSize", "8Mi"))
	first := randomBytes(t, 12<<20)
	hold := &holdAt{r: stream(first), at: 9 << 20, reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.PutObject(bucket, "first", hold) }()
	<-hold.reached
	require.Equal(t, int64(8<<20), objectstore.BudgetHeld(), "the first upload's second part holds the budget")

	second := randomBytes(t, 20<<20)
	require.NoError(t, s.PutObject(bucket, "second", stream(second)), "no wait for the budget the first holds")
	assert.Equal(t, digest(second), digest(independentRead(t, srv, bucket, "second")))
	assert.NotNil(t, logs.Find(func(e *logrus.Entry) bool {
		return e.Message == "spooling parts to disk" && e.Data["key"] == "second" && e.Data["reason"] == "memoryBudget is in use by other transfers"
	}), logs.Text())
	for _, e := range logs.Entries() { // in this process: every line is in already
		assert.False(t, e.Message == "spooling parts to disk" && e.Data["key"] == "first", "an upload with a part in memory waits for room instead")
	}

	close(hold.release)
	require.NoError(t, <-done)
	assert.Equal(t, digest(first), digest(independentRead(t, srv, bucket, "first")))
}

// holdAt hands out r up to at bytes, says so on reached, and goes on once
// release is closed.
type holdAt struct {
	r        io.Reader
	at, read int64
	reached  chan struct{}
	release  chan struct{}
}

func (h *holdAt) Read(b []byte) (int, error) {
	if h.read >= h.at && h.reached != nil {
		close(h.reached)
		h.reached = nil
		<-h.release
	}
	if left := h.at - h.read; left > 0 && int64(len(b)) > left {
		b = b[:left]
	}
	n, err := h.r.Read(b)
	h.read += int64(n)
	return n, err
}

// Spooled parts carry the configured checksum, computed as they were
// written; S3 checks it (CRC64NVME also over the whole object).
func TestSpooledChecksums(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	for _, alg := range []string{"MD5", "SHA256", "CRC64NVME"} {
		t.Run(alg, func(t *testing.T) {
			s, logs := newStore(t, srv, storeConfig(srv, bucket, "memoryBudget", "10Mi", "multipartPartSize", "16Mi", "checksumAlgorithm", alg))
			for _, size := range []int{12 << 20, 20 << 20} {
				key := fmt.Sprintf("%s-%d", alg, size)
				data := randomBytes(t, size)
				require.NoError(t, s.PutObject(bucket, key, stream(data)))
				assert.Equal(t, digest(data), digest(independentRead(t, srv, bucket, key)))
			}
			assertLogged(t, logs, "info", "spooling parts to disk", "")
		})
	}
}

// A spoolDir that was set must be usable at Init; the default one only
// warns, since most uploads never spool.
func TestSpoolDirAtInit(t *testing.T) {
	srv := startMinIO(t)
	bucket := srv.MakeBucket(t)
	cfg := storeConfig(srv, bucket, "spoolDir", "/nonexistent/spool", "credentialsFile", srv.CredentialsFile(t))
	err := objectstore.New(testenv.NewLogCapture(0).Logger, kube.New()).Init(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid value for "spoolDir" in BSL config: "/nonexistent/spool" cannot hold spooled parts`)

	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "gone"))
	s, logs := newStore(t, srv, storeConfig(srv, bucket))
	require.NoError(t, s.PutObject(bucket, "k", stream([]byte("x"))))
	assertLogged(t, logs, "warning", "the OS temp dir cannot hold spooled parts", "")
}

// pauseAt hands out r and calls do once, when at bytes have gone.
type pauseAt struct {
	r    io.Reader
	at   int64
	read int64
	do   func()
}

func (p *pauseAt) Read(b []byte) (int, error) {
	if p.do != nil && p.read >= p.at {
		p.do()
		p.do = nil
	}
	n, err := p.r.Read(b)
	p.read += int64(n)
	return n, err
}

type spoolFD struct {
	target string
	mode   os.FileMode
}

// spoolFDs are the files in dir that process pid holds open.
func spoolFDs(pid int, dir string) []spoolFD {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	var out []spoolFD
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, dir+"/") {
			continue
		}
		if st, err := os.Stat(fd); err == nil {
			out = append(out, spoolFD{target: target, mode: st.Mode().Perm()})
		}
	}
	return out
}

// waitSpoolFDs waits (up to 10 s) for the plugin to open a spool file.
func waitSpoolFDs(pid int, dir string) []spoolFD {
	for i := 0; i < 200; i++ {
		if fds := spoolFDs(pid, dir); len(fds) > 0 {
			return fds
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// assertSpoolGone: no file in the spool folder, and none held open by the
// plugin process (waiting up to 5 s for parts of a failed upload that
// are still being let go).
func assertSpoolGone(t *testing.T, pid int, dir string) {
	t.Helper()
	var open []spoolFD
	for i := 0; i < 100; i++ {
		if open = spoolFDs(pid, dir); len(open) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Empty(t, open, "spool files still open")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}
