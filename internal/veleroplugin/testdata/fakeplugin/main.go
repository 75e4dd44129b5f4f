// Command fakeplugin serves plugins through veleroplugin whose behaviour
// the test picks by key: what the server must carry to Velero's host
// (bodies, errors, panics, log lines) without an S3 server behind it.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"example.io/velero-plugin-s3csi/internal/veleroplugin"
)

func main() {
	s := veleroplugin.New()
	s.BindFlags(pflag.CommandLine)
	if err := pflag.CommandLine.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s.RegisterObjectStore("example.io/fake", func(log logrus.FieldLogger) veleroplugin.ObjectStore {
		return &store{log: log, objects: map[string][]byte{}}
	})
	s.RegisterVolumeSnapshotter("example.io/fakecsi", func(log logrus.FieldLogger) veleroplugin.VolumeSnapshotter {
		return snapshotter{}
	})
	if err := s.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

type store struct {
	log     logrus.FieldLogger
	mu      sync.Mutex
	objects map[string][]byte
}

// Init logs its debug line first: once the host has the warning, it has
// every line before it, so a test can tell the debug line was not sent.
func (s *store) Init(config map[string]string) error {
	s.log.Debug("fake store debug line")
	s.log.WithField("bucket", config["bucket"]).Warn("fake store ready")
	return nil
}

func (s *store) PutObject(bucket, key string, body io.Reader) error {
	switch key {
	case "panic":
		panic("fake store told to panic")
	case "fail":
		return errors.New("fake store refused key fail")
	case "notfound":
		return status.Error(codes.NotFound, "fake store has no such bucket")
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[bucket+"/"+key] = b
	return nil
}

func (s *store) ObjectExists(bucket, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objects[bucket+"/"+key]
	return ok, nil
}

// broken is the first bytes of an object and then a failed read.
type broken struct{ r io.Reader }

func (b broken) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errors.New("fake store lost the rest of the object")
	}
	return n, err
}

func (s *store) GetObject(bucket, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("fake store has no %s/%s", bucket, key)
	}
	if key == "broken" {
		return io.NopCloser(broken{bytes.NewReader(b)}), nil
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *store) ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error) {
	return []string{prefix + "a" + delimiter, prefix + "b" + delimiter}, nil
}

func (s *store) ListObjects(bucket, prefix string) ([]string, error) {
	return []string{prefix + "x"}, nil
}

func (s *store) DeleteObject(bucket, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, bucket+"/"+key)
	return nil
}

func (s *store) CreateSignedURL(bucket, key string, ttl time.Duration) (string, error) {
	return fmt.Sprintf("https://fake/%s/%s?ttl=%s", bucket, key, ttl), nil
}

type snapshotter struct{}

func (snapshotter) Init(map[string]string) error { return nil }

func (snapshotter) CreateVolumeFromSnapshot(snapshotID, volumeType, volumeAZ string, iops *int64) (string, error) {
	if iops == nil {
		return "vol-from-" + snapshotID + "-no-iops", nil
	}
	return fmt.Sprintf("vol-from-%s-iops-%d", snapshotID, *iops), nil
}

func (snapshotter) GetVolumeInfo(volumeID, volumeAZ string) (string, *int64, error) {
	if volumeID == "with-iops" {
		iops := int64(3000)
		return "gp3", &iops, nil
	}
	return "standard", nil, nil
}

func (snapshotter) CreateSnapshot(volumeID, volumeAZ string, tags map[string]string) (string, error) {
	return "snap-of-" + volumeID + "-for-" + tags["velero.io/backup"], nil
}

func (snapshotter) DeleteSnapshot(snapshotID string) error {
	if snapshotID == "in-use" {
		return status.Error(codes.FailedPrecondition, "snapshot in-use is in use")
	}
	return nil
}

func (snapshotter) GetVolumeID(pv runtime.Unstructured) (string, error) {
	id, _, err := unstructured.NestedString(pv.UnstructuredContent(), "spec", "csi", "volumeHandle")
	return id, err
}

func (snapshotter) SetVolumeID(pv runtime.Unstructured, volumeID string) (runtime.Unstructured, error) {
	obj := pv.UnstructuredContent()
	if err := unstructured.SetNestedField(obj, volumeID, "spec", "csi", "volumeHandle"); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: obj}, nil
}
