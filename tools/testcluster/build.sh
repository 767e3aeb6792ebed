#!/usr/bin/env bash
# Builds the local control plane from Go modules into a per-version cache directory, once
# per machine: kube-apiserver, kube-controller-manager, kube-scheduler and etcd (versions
# pinned in go.mod next to this script) and KWOK, which simulates nodes (pinned in kwok/go.mod).
#   tools/testcluster/build.sh          build if needed, print the binary directory last
#   tools/testcluster/build.sh --print  print the binary directory, build nothing
# Environment: GITOPS_AGENT_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent).
# A complete directory of an earlier layout without the scheduler and KWOK
# (k8s-<v>-etcd-<v>) is reused: its binaries are linked, not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

mod_version() {  # mod_version <module> [go.mod]: its version in a require line or block
  awk -v m="$1" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "${2:-go.mod}"
}
k8s=$(mod_version k8s.io/kubernetes)
etcd=$(mod_version go.etcd.io/etcd/server/v3)
kwok=$(mod_version sigs.k8s.io/kwok kwok/go.mod)
if [ -z "$k8s" ] || [ -z "$etcd" ] || [ -z "$kwok" ]; then
  echo "build.sh: cannot read the Kubernetes, etcd or KWOK version from $here/go.mod, $here/kwok/go.mod" >&2
  exit 1
fi
cache_root=${GITOPS_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent}
earlier="$cache_root/testcluster/k8s-${k8s#v}-etcd-${etcd#v}"
dest="$earlier-kwok-${kwok#v}"
control_plane=(kube-apiserver kube-controller-manager etcd)
binaries=("${control_plane[@]}" kube-scheduler kwok)

complete() {  # complete <dir> <binary>...
  local dir=$1; shift
  [ -f "$dir/.complete" ] || return 1
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

if [ "${1:-}" = "--print" ]; then
  echo "$dest"
  exit 0
fi
if complete "$dest" "${binaries[@]}"; then
  echo "testcluster: cached Kubernetes $k8s + etcd $etcd + KWOK $kwok binaries in $dest" >&2
  echo "$dest"
  exit 0
fi

mkdir -p "$cache_root/testcluster"
exec 9>"$cache_root/testcluster/.build.lock"
flock 9
if complete "$dest" "${binaries[@]}"; then  # another build finished while this one waited for the lock
  echo "$dest"
  exit 0
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"  # the official tarball's location, often not on PATH
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go >= 1.26 is needed to build the test control plane (go not found)" >&2
  exit 1
fi
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=readonly"

start=$(date +%s)
tmp=$(mktemp -d "$cache_root/testcluster/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
packages=(k8s.io/kubernetes/cmd/kube-scheduler)
names="kube-scheduler"
if complete "$earlier" "${control_plane[@]}"; then
  echo "testcluster: reusing kube-apiserver, kube-controller-manager and etcd from $earlier" >&2
  for b in "${control_plane[@]}"; do
    ln "$earlier/$b" "$tmp/$b" 2>/dev/null || cp "$earlier/$b" "$tmp/$b"
  done
else
  packages+=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager go.etcd.io/etcd/server/v3)
  names="kube-apiserver, kube-controller-manager, kube-scheduler (Kubernetes $k8s), etcd $etcd"
fi
echo "testcluster: building $names and KWOK $kwok with $(go env GOVERSION) into $dest" >&2
t=$(date +%s)
go mod download
(cd kwok && go mod download)
echo "testcluster: module download took $(( $(date +%s) - t ))s" >&2

# The version variables are what a release build stamps in; without them the binaries
# report v0.0.0-master to clients.
minor=$(echo "$k8s" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$k8s \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
t=$(date +%s)
go build -ldflags "$ldflags" -o "$tmp/" "${packages[@]}"
# A module path ending in /v3 names its binary after the element before it.
if [ -f "$tmp/server" ]; then mv "$tmp/server" "$tmp/etcd"; fi
echo "testcluster: go build of $names took $(( $(date +%s) - t ))s" >&2
t=$(date +%s)
(cd kwok && go build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok#v}" -o "$tmp/" sigs.k8s.io/kwok/cmd/kwok)
echo "testcluster: go build of kwok took $(( $(date +%s) - t ))s" >&2

"$tmp/kube-apiserver" --version >&2
"$tmp/kube-scheduler" --version >&2
"$tmp/etcd" --version | head -1 >&2
"$tmp/kwok" --version >&2
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "testcluster: built in $(( $(date +%s) - start ))s" >&2
echo "$dest"
