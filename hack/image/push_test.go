package main

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `make push` against go-containerregistry's registry, in process, behind
// basic auth whose credentials only the docker config file has; then the
// index pulled back by digest is the archive's, blob for blob.
func TestPushThenPullByDigest(t *testing.T) {
	path, digest := builtArchive(t)
	reg := httptest.NewServer(basicAuth("pusher", "s3cret", registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://") // 127.0.0.1:port: go-containerregistry speaks http to loopback
	ref := host + "/velero-plugin-s3csi:v0.0.0-test"

	t.Setenv("DOCKER_CONFIG", dockerConfig(t, `{}`))
	_, err := push(context.Background(), path, ref)
	require.Error(t, err, "no credentials, no push")
	assert.Contains(t, err.Error(), "401 Unauthorized")

	auth := base64.StdEncoding.EncodeToString([]byte("pusher:s3cret"))
	t.Setenv("DOCKER_CONFIG", dockerConfig(t, `{"auths": {"`+host+`": {"auth": "`+auth+`"}}}`))
	d, err := push(context.Background(), path, ref)
	require.NoError(t, err)
	assert.Equal(t, digest, d)

	byDigest, err := name.NewDigest(host + "/velero-plugin-s3csi@" + d.String())
	require.NoError(t, err)
	pulled, err := remote.Index(byDigest, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	require.NoError(t, err)
	require.NoError(t, validate.Index(pulled), "every blob pulled matches its digest")
	pd, err := pulled.Digest()
	require.NoError(t, err)
	assert.Equal(t, digest, pd)
	local := openArchive(t, path)
	for _, arch := range []string{"amd64", "arm64"} {
		want, err := imageFor(t, local, arch).Digest()
		require.NoError(t, err)
		got, err := imageFor(t, pulled, arch).Digest()
		require.NoError(t, err)
		assert.Equal(t, want, got, arch)
	}
	tag, err := name.NewTag(ref)
	require.NoError(t, err)
	tagged, err := remote.Head(tag, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	require.NoError(t, err)
	assert.Equal(t, digest, tagged.Digest, "the tag names the index")
}

func TestPushNeedsAFullReference(t *testing.T) {
	for _, ref := range []string{
		"velero-plugin-s3csi:v0.1.0",                  // no registry: would be Docker Hub
		"registry.example.com/velero-plugin-s3csi",    // no tag: would be latest
		"registry.example.com/Velero-Plugin-S3CSI:v1", // not a repository name
	} {
		t.Run(ref, func(t *testing.T) {
			_, err := push(context.Background(), filepath.Join(t.TempDir(), "absent.tar"), ref)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `invalid image "`+ref+`"`)
		})
	}
	_, err := push(context.Background(), filepath.Join(t.TempDir(), "absent.tar"), "registry.example.com/velero-plugin-s3csi:v1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run `make image` first")
}

// basicAuth lets through only requests with user and password, and asks
// for them as a registry does.
func basicAuth(user, password string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dockerConfig is a $DOCKER_CONFIG folder whose config.json is body.
func dockerConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600))
	return dir
}
