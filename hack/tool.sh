#!/usr/bin/env bash
# tool.sh [--check] NAME...: print the path of each pinned test tool,
# building it into the tool cache first when it is missing (with --check,
# fail instead of building). Every tool comes from the Go module
# proxy at a fixed version, so a fresh machine builds exactly what CI used.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/velero-plugin-s3csi"
here="$(cd "$(dirname "$0")" && pwd)"

# name | module path to install | version | binary name
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW_VERSION=v1.8.0
AWSPLUGIN_VERSION=v1.14.3
CSITEST_VERSION=v5.6.0
# The GCE PD CSI driver's version is pinned in hack/csidriver/go.mod; the
# cache folder is named after that file's hash, so a change rebuilds it.

check=0
if [[ "${1:-}" == "--check" ]]; then check=1; shift; fi

install_pkg() { # dir pkg@version
  if [[ $check == 1 ]]; then echo "not built: $dir" >&2; exit 1; fi
  local dir="$1" pkg="$2"
  mkdir -p "$dir.tmp"
  echo "tool.sh: building $pkg into $dir (once; cached after)" >&2
  GOBIN="$dir.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath "$pkg" >&2
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

tool() {
  local name="$1" dir bin
  case "$name" in
    minio)
      dir="$cache/minio-$MINIO_VERSION"; bin="$dir/minio"
      [[ -x "$bin" ]] || install_pkg "$dir" "github.com/minio/minio@$MINIO_VERSION" ;;
    versitygw)
      dir="$cache/versitygw-$VERSITYGW_VERSION"; bin="$dir/versitygw"
      [[ -x "$bin" ]] || install_pkg "$dir" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ;;
    velero-plugin-for-aws)
      dir="$cache/velero-plugin-for-aws-$AWSPLUGIN_VERSION"; bin="$dir/velero-plugin-for-aws"
      [[ -x "$bin" ]] || install_pkg "$dir" "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws@$AWSPLUGIN_VERSION" ;;
    csidriver)
      local sum; sum="$(cat "$here/csidriver/go.mod" "$here/csidriver/go.sum" "$here/csidriver/main.go" | sha256sum | cut -c1-12)"
      dir="$cache/csidriver-$sum"; bin="$dir/csidriver"
      if [[ ! -x "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not built: $dir" >&2; exit 1; }
        echo "tool.sh: building the GCE PD CSI driver (fake GCE) into $dir (once; cached after)" >&2
        mkdir -p "$dir.tmp"
        (cd "$here/csidriver" && CGO_ENABLED=0 go build -trimpath -o "$dir.tmp/csidriver" .) >&2
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
      fi ;;
    csi-sanity)
      dir="$cache/csi-sanity-$CSITEST_VERSION"; bin="$dir/csi-sanity"
      [[ -x "$bin" ]] || install_pkg "$dir" "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSITEST_VERSION" ;;
    *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
  esac
  echo "$bin"
}

for t in "$@"; do tool "$t"; done
