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
VELERO_VERSION=v1.18.3
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
    kube)  # kube-apiserver, from hack/kube (pinned in its go.mod)
      local ksum; ksum="$(cat "$here/kube/go.mod" | sha256sum | cut -c1-12)"
      dir="$cache/kube-$ksum"; bin="$dir/kube-apiserver"
      if [[ ! -x "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not built: $dir" >&2; exit 1; }
        echo "tool.sh: building kube-apiserver into $dir (10-30 min cold; cached after)" >&2
        mkdir -p "$dir.tmp"
        (cd "$here/kube" && CGO_ENABLED=0 go build -trimpath -o "$dir.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver) >&2
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
      fi ;;
    velero)  # Velero's server and CLI, built from a copy of its module (its go.mod has a replace)
      dir="$cache/velero-$VELERO_VERSION"; bin="$dir/velero"
      if [[ ! -x "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not built: $dir" >&2; exit 1; }
        echo "tool.sh: building velero $VELERO_VERSION into $dir (7-15 min cold; cached after)" >&2
        local src; src="$(go mod download -json "github.com/vmware-tanzu/velero@$VELERO_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
        rm -rf "$dir.src" "$dir.tmp" && mkdir -p "$dir.tmp" && cp -r "$src" "$dir.src" && chmod -R u+w "$dir.src"
        # The proxy refuses k8s.io/cli-runtime v0.33.12; v0.33.10 serves.
        (cd "$dir.src" && go mod edit -replace k8s.io/cli-runtime=k8s.io/cli-runtime@v0.33.10 && go mod tidy && \
          CGO_ENABLED=0 go build -trimpath \
            -ldflags "-X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=0 -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$VELERO_VERSION" \
            -o "$dir.tmp/velero" ./cmd/velero) >&2
        rm -rf "$dir" "$dir.src" && mv "$dir.tmp" "$dir"
      fi ;;
    etcd)  # Debian's etcd-server (3.4), which kube-apiserver 1.37 accepts
      bin="$(command -v etcd || true)"
      if [[ -z "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not installed: etcd (Debian etcd-server)" >&2; exit 1; }
        echo "tool.sh: installing Debian's etcd-server" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server) >&2
        bin="$(command -v etcd)"
      fi ;;
    age)  # Debian's age, the standard CLI: the tests decrypt the plugin's encrypted objects with it
      bin="$(command -v age || true)"
      if [[ -z "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not installed: age (Debian age)" >&2; exit 1; }
        echo "tool.sh: installing Debian's age" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends age) >&2
        bin="$(command -v age)"
      fi ;;
    minisign)  # Debian's minisign, the standard CLI: the tests check the plugin's .minisig signatures with it
      bin="$(command -v minisign || true)"
      if [[ -z "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not installed: minisign (Debian minisign)" >&2; exit 1; }
        echo "tool.sh: installing Debian's minisign" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends minisign) >&2
        bin="$(command -v minisign)"
      fi ;;
    buildah)  # Debian's buildah, which builds the Dockerfile in make test (no daemon; vfs storage, chroot isolation)
      bin="$(command -v buildah || true)"
      if [[ -z "$bin" ]]; then
        [[ $check == 1 ]] && { echo "not installed: buildah (Debian buildah)" >&2; exit 1; }
        echo "tool.sh: installing Debian's buildah" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah) >&2
        bin="$(command -v buildah)"
      fi
      # --build-context, which the Dockerfile test needs, came in 1.28 (Debian 12 has 1.28.2).
      local bv; bv="$("$bin" --version | awk '{print $3}')"
      if ! printf '%s\n' 1.28.0 "$bv" | sort -V -C; then
        echo "tool.sh: buildah $bv is older than 1.28, which the Dockerfile test needs (--build-context)" >&2; exit 1
      fi ;;
    *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
  esac
  echo "$bin"
}

# One build of a tool at a time: a second make (or a helper's) waits for
# the first, then finds the tool built. The lock is per tool name, held
# while the tool is looked up or built.
mkdir -p "$cache"
for t in "$@"; do
  if [[ $check == 1 ]] || ! command -v flock >/dev/null; then tool "$t"; continue; fi
  exec 9>"$cache/.$t.lock"
  flock -n 9 || { echo "tool.sh: waiting for another build of $t" >&2; flock 9; }
  tool "$t"
  exec 9>&-
done
