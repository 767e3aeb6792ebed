#!/usr/bin/env bash
# Print the path of an actionlint binary, building it from its Go module first when missing.
#   tools/actionlint.sh            -> /path/to/actionlint
# The binary is cached per version in ${ACTIONLINT_CACHE:-$HOME/.cache/gitops-agent/actionlint}.
set -euo pipefail
version="${ACTIONLINT_VERSION:-v1.7.12}"
cache="${ACTIONLINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-agent/actionlint}/${version}"
bin="${cache}/actionlint"
if [[ ! -x "${bin}" ]]; then
  mkdir -p "${cache}"
  echo "building actionlint ${version} into ${cache}" >&2
  GOTOOLCHAIN=local GOBIN="${cache}" CGO_ENABLED=0 \
    go install "github.com/rhysd/actionlint/cmd/actionlint@${version}" >&2
fi
echo "${bin}"
