package objectstore_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"example.io/velero-plugin-s3csi/internal/testenv"
	"example.io/velero-plugin-s3csi/kube"
	"example.io/velero-plugin-s3csi/objectstore"
)

// BenchmarkSmallPut is Velero's one-at-a-time small PutObject (a 2 KiB
// velero-backup.json and a 20 KiB .gz) in this process against MinIO,
// for profiling: go test -run x -bench SmallPut -cpuprofile cpu.out
// -memprofile mem.out ./objectstore. `make bench` measures it through
// Velero's host.
func BenchmarkSmallPut(b *testing.B) {
	srv := testenv.StartMinIO(b, testenv.MinIOOptions{})
	bucket := srv.MakeBucket(b)
	logs := testenv.NewLogCapture(logrus.InfoLevel)
	s := objectstore.New(logs.Logger, kube.New())
	require.NoError(b, s.Init(map[string]string{"bucket": bucket, "s3Url": srv.Endpoint, "credentialsFile": srv.CredentialsFile(b)}))
	js := []byte(`{"kind":"Backup","apiVersion":"velero.io/v1","metadata":{"name":"b"},"status":{"phase":"Completed","pad":"` + string(bytes.Repeat([]byte("x"), 2000)) + `"}}`)
	gz := gzipped(b, bytes.Repeat([]byte("time=2026 level=info msg=\"Processing item\"\n"), 2000))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, s.PutObject(bucket, fmt.Sprintf("backups/b%d/velero-backup.json", i), stream(js)))
		require.NoError(b, s.PutObject(bucket, fmt.Sprintf("backups/b%d/b%d-logs.gz", i, i), stream(gz)))
	}
}
