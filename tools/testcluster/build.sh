#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from Go modules (versions pinned
# in go.mod next to this script) into a per-version cache directory, once per machine.
#   tools/testcluster/build.sh          build if needed, print the binary directory last
#   tools/testcluster/build.sh --print  print the binary directory, build nothing
# Environment: GITOPS_AGENT_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

mod_version() { awk -v m="$1" '$1 == m { print $2; exit }' go.mod; }
k8s=$(mod_version k8s.io/kubernetes)
etcd=$(mod_version go.etcd.io/etcd/server/v3)
if [ -z "$k8s" ] || [ -z "$etcd" ]; then
  echo "build.sh: cannot read the Kubernetes or etcd version from $here/go.mod" >&2
  exit 1
fi
cache_root=${GITOPS_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent}
dest="$cache_root/testcluster/k8s-${k8s#v}-etcd-${etcd#v}"
binaries=(kube-apiserver kube-controller-manager etcd)

complete() {
  [ -f "$dest/.complete" ] || return 1
  for b in "${binaries[@]}"; do [ -x "$dest/$b" ] || return 1; done
}

if [ "${1:-}" = "--print" ]; then
  echo "$dest"
  exit 0
fi
if complete; then
  echo "testcluster: cached Kubernetes $k8s + etcd $etcd binaries in $dest" >&2
  echo "$dest"
  exit 0
fi

mkdir -p "$cache_root/testcluster"
exec 9>"$cache_root/testcluster/.build.lock"
flock 9
if complete; then  # another build finished while this one waited for the lock
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
echo "testcluster: building kube-apiserver + kube-controller-manager (Kubernetes $k8s) and etcd $etcd with $(go env GOVERSION) into $dest" >&2
t=$(date +%s)
go mod download
echo "testcluster: module download took $(( $(date +%s) - t ))s" >&2

tmp=$(mktemp -d "$cache_root/testcluster/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The version variables are what a release build stamps in; without them the binaries
# report v0.0.0-master to clients.
minor=$(echo "$k8s" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$k8s \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
t=$(date +%s)
go build -ldflags "$ldflags" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  go.etcd.io/etcd/server/v3
# A module path ending in /v3 names its binary after the element before it.
mv "$tmp/server" "$tmp/etcd"
echo "testcluster: go build took $(( $(date +%s) - t ))s" >&2

"$tmp/kube-apiserver" --version >&2
"$tmp/etcd" --version | head -1 >&2
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "testcluster: built in $(( $(date +%s) - start ))s" >&2
echo "$dest"
