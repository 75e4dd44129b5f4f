package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's contract with the pod that runs it.
const (
	binName = "velero-plugin-s3csi"
	binDir  = "plugins"
	// user and group: a non-root user with no entry in any passwd file, so
	// the group is given too (a runtime would otherwise pick gid 0).
	user = "65532:65532"
)

// entrypoint copies the binary into the init container's emptyDir, which
// Kubernetes mounts at /target (the mount point needs no folder in the
// image: the runtime creates it).
var entrypoint = []string{"/" + binDir + "/" + binName, "install", "--target", "/target"}

// defaultPath is the environment every Dockerfile engine gives an image
// FROM scratch (BuildKit's and buildah's default PATH for linux), so that the
// Dockerfile and this program build the same config. Nothing in the image
// reads it: the entrypoint is an absolute path and there is no shell.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// architectures are the linux platforms of the index, in its order.
var architectures = []string{"amd64", "arm64"}

// Label keys of the OCI image spec (annotations.md).
const (
	labelSource   = "org.opencontainers.image.source"
	labelVersion  = "org.opencontainers.image.version"
	labelRevision = "org.opencontainers.image.revision"
	labelCreated  = "org.opencontainers.image.created"
)

type options struct {
	Src      string    // the module's root
	Go       string    // the go command
	Version  string    // main.version and the version label
	Revision string    // the revision label
	Source   string    // the source label
	Created  time.Time // every time stamp in the image
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// build compiles the plugin for each architecture and returns the index of
// the images, held in memory.
func build(ctx context.Context, o options) (v1.ImageIndex, error) {
	if !versionRE.MatchString(o.Version) {
		return nil, fmt.Errorf("invalid value for \"version\": %q is not a version (letters, digits, . _ + -)", o.Version)
	}
	tmp, err := os.MkdirTemp("", "s3csi-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var adds []mutate.IndexAddendum
	for _, arch := range architectures {
		bin := filepath.Join(tmp, arch, binName)
		if err := compile(ctx, o, arch, bin); err != nil {
			return nil, err
		}
		img, err := image(o, arch, bin)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch},
		}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// compile builds the static binary reproducibly: no cgo, no paths of this
// machine (-trimpath), no VCS stamp (the revision is a label instead),
// baseline instruction sets whatever the caller's environment says.
// The Dockerfile's compile stage must use the same (dockerfile_test.go).
func compile(ctx context.Context, o options, arch, out string) error {
	cmd := exec.CommandContext(ctx, o.Go, append(goBuildArgs(o.Version), "-o", out, ".")...)
	cmd.Dir = o.Src
	cmd.Env = append(os.Environ(), goBuildEnv(arch)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for linux/%s: %w\n%s", arch, err, b)
	}
	return nil
}

func goBuildArgs(version string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X main.version=" + version}
}

func goBuildEnv(arch string) []string {
	return []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch, "GOAMD64=v1", "GOARM64=v8.0"}
}

// image is FROM scratch, one layer with the binary, run as user.
func image(o options, arch, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	lt, err := layerTar(data, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(lt)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer for linux/%s: %w", arch, err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "hack/image: COPY " + binName + " /" + binDir + "/",
			Comment:   "linux/" + arch,
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: entrypoint,
		Env:        []string{defaultPath},
		WorkingDir: "/",
		Labels: map[string]string{
			labelSource:   o.Source,
			labelVersion:  o.Version,
			labelRevision: o.Revision,
			labelCreated:  o.Created.UTC().Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// Type bits in a tar header's mode field, as the container engines'
// archivers write them (moby's and containers/storage's
// fillGo18FileTypeBits; Go's archive/tar stopped adding them in 1.9).
const (
	modeDir = 0o40000
	modeReg = 0o100000
)

// layerTar is the layer's file system: the folder and the binary, owned by
// root, executable by all, dated mtime. Entries are in sorted order, and
// each header is the one buildah writes for the Dockerfile's COPY (mode
// with type bits, no user or group names, USTAR), so both layers are the
// same bytes.
func layerTar(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: binDir + "/", Mode: modeDir | 0o755},
		{Typeflag: tar.TypeReg, Name: binDir + "/" + binName, Mode: modeReg | 0o755, Size: int64(len(bin))},
	} {
		h.ModTime, h.Format = mtime, tar.FormatUSTAR
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bin); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
