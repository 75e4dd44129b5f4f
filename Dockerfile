# syntax=docker/dockerfile:1
# The plugin's init-container image, the same image `make image` builds
# (hack/image): FROM scratch, the static binary alone at
# /plugins/velero-plugin-s3csi, user 65532:65532, entrypoint
# `install --target /target`, the OCI labels; linux/amd64 and linux/arm64.
#
#   docker buildx build --platform linux/amd64,linux/arm64 --provenance=false \
#     --build-arg VERSION=v0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)" \
#     --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" \
#     --output type=image,name=REGISTRY/velero-plugin-s3csi:v0.1.0,push=true,rewrite-timestamp=true .
# (docs/install.md: the builder it needs.)
#
# Three stages:
# - compile cross-compiles on the build machine's own platform (no
#   emulation), with the flags of hack/image's compile;
# - binaries holds one binary per platform, linux-<arch>/velero-plugin-s3csi;
# - the last stage is the image: it copies its platform's binary.
# `make test` builds this file with buildah, where no golang image can be
# pulled: it replaces the binaries stage by a folder of prebuilt binaries
# (--build-context binaries=DIR, which buildx takes too), so the last stage
# is exactly what it builds, for both platforms, and compares with `make
# image`'s archive (hack/image/dockerfile_test.go). The compile stage is
# checked there as text only: its flags must be hack/image's.

FROM --platform=$BUILDPLATFORM golang:1.26 AS compile
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces the conformance suite's module with this folder.
COPY internal/conformance/go.mod internal/conformance/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} GOAMD64=v1 GOARM64=v8.0 \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
    -o /out/linux-${TARGETARCH}/velero-plugin-s3csi .

FROM scratch AS binaries
COPY --from=compile /out/ /

FROM scratch
ARG TARGETARCH
# hack/image's defaults outside a git work tree.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
COPY --from=binaries /linux-${TARGETARCH}/velero-plugin-s3csi /plugins/velero-plugin-s3csi
LABEL org.opencontainers.image.source="https://example.io/velero-plugin-s3csi" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
USER 65532:65532
# BuildKit gives an image FROM scratch the working folder /, buildah none.
WORKDIR /
ENTRYPOINT ["/plugins/velero-plugin-s3csi", "install", "--target", "/target"]
