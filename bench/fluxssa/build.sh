#!/usr/bin/env bash
# Builds the fluxssa benchmark program (Flux's server-side-apply engine plus kustomize's Go
# API, versions pinned in go.mod next to this script) into a per-version cache directory,
# once per machine.
#   bench/fluxssa/build.sh          build if needed, print the binary's path last
#   bench/fluxssa/build.sh --print  print the binary's path, build nothing
# Environment: GITOPS_AGENT_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

mod_version() { awk -v m="$1" '$1 == m { print $2; exit }' go.mod; }
ssa=$(mod_version github.com/fluxcd/pkg/ssa)
kustomize=$(mod_version sigs.k8s.io/kustomize/api)
if [ -z "$ssa" ] || [ -z "$kustomize" ]; then
  echo "build.sh: cannot read the fluxcd/pkg/ssa or kustomize/api version from $here/go.mod" >&2
  exit 1
fi
cache_root=${GITOPS_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent}
# The source is part of the key: a changed main.go builds a new binary.
source_sum=$(cat main.go go.mod go.sum | sha256sum | cut -c1-12)
dest="$cache_root/fluxssa/ssa-${ssa#v}-kustomize-api-${kustomize#v}-$source_sum"
binary="$dest/fluxssa"

if [ "${1:-}" = "--print" ]; then
  echo "$binary"
  exit 0
fi
if [ -x "$binary" ]; then
  echo "fluxssa: cached fluxcd/pkg/ssa $ssa + kustomize/api $kustomize binary in $dest" >&2
  echo "$binary"
  exit 0
fi

mkdir -p "$cache_root/fluxssa"
exec 9>"$cache_root/fluxssa/.build.lock"
flock 9
if [ -x "$binary" ]; then  # another build finished while this one waited for the lock
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go >= 1.26 is needed to build the fluxssa benchmark program (go not found)" >&2
  exit 1
fi
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=readonly"
echo "fluxssa: building fluxcd/pkg/ssa $ssa + kustomize/api $kustomize with $(go env GOVERSION) into $dest" >&2
tmp=$(mktemp -d "$cache_root/fluxssa/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -ldflags "-s -w" -o "$tmp/fluxssa" .
mkdir -p "$dest"
mv "$tmp/fluxssa" "$binary"
echo "$binary"
