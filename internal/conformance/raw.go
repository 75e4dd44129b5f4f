package conformance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Raw is a client of the bucket that is not the plugin (minio-go): the
// cases read with it what the plugin stored, and write with it what the
// plugin must list.
type Raw struct {
	c      *minio.Client
	bucket string
}

// NewRaw is a client of bucket on the S3 endpoint (http(s)://host:port).
func NewRaw(endpoint, accessKey, secretKey, bucket string) (*Raw, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(endpoint, "http://"), "https://")
	c, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure: strings.HasPrefix(endpoint, "https://"), Region: "us-east-1"})
	if err != nil {
		return nil, fmt.Errorf("minio client for %s: %w", endpoint, err)
	}
	return &Raw{c: c, bucket: bucket}, nil
}

// credentialsFromFile reads the default profile's keys of an AWS shared
// credentials file, the file a BSL's credentialsFile names.
func credentialsFromFile(path string) (accessKey, secretKey string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "aws_access_key_id":
			accessKey = strings.TrimSpace(v)
		case k == "aws_secret_access_key":
			secretKey = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if accessKey == "" || secretKey == "" {
		return "", "", fmt.Errorf("%s has no aws_access_key_id and aws_secret_access_key", path)
	}
	return accessKey, secretKey, nil
}

// Get reads what S3 stores under key.
func (r *Raw) Get(key string) ([]byte, error) {
	obj, err := r.c.GetObject(context.Background(), r.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// Size is the stored size of key; ok is false when there is no such key.
func (r *Raw) Size(key string) (size int64, ok bool, err error) {
	info, err := r.c.StatObject(context.Background(), r.bucket, key, minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).StatusCode == 404 {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return info.Size, true, nil
}

// Put stores data under key.
func (r *Raw) Put(key string, data []byte) error {
	_, err := r.c.PutObject(context.Background(), r.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	return err
}

// Prefixes lists the common prefixes under prefix, cut at "/".
func (r *Raw) Prefixes(prefix string) ([]string, error) {
	var out []string
	for o := range r.c.ListObjects(context.Background(), r.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if o.Err != nil {
			return nil, o.Err
		}
		if strings.HasSuffix(o.Key, "/") {
			out = append(out, o.Key)
		}
	}
	return out, nil
}

// Uploads lists the multipart uploads left unfinished under key.
func (r *Raw) Uploads(key string) ([]string, error) {
	var out []string
	for u := range r.c.ListIncompleteUploads(context.Background(), r.bucket, key, true) {
		if u.Err != nil {
			return nil, u.Err
		}
		out = append(out, u.Key+" upload "+u.UploadID)
	}
	return out, nil
}
