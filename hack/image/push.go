package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// push uploads the archive's index, its two images and their blobs to ref,
// with the credentials of the docker config file ($DOCKER_CONFIG or
// ~/.docker/config.json, its credential helpers included; else Podman's
// auth.json; else anonymous), and returns the index digest.
func push(ctx context.Context, archive, ref string) (v1.Hash, error) {
	// Strict: a registry and a tag must be written out, never defaulted
	// to Docker Hub and :latest.
	r, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("invalid image %q (want REGISTRY/NAME:TAG): %w", ref, err)
	}
	idx, done, err := readArchive(archive)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: run `make image` first", err)
		}
		return v1.Hash{}, err
	}
	defer done()
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", r, err)
	}
	return idx.Digest()
}
