#!/usr/bin/env bash
# Build the Go test tools into a fixed, cached bin dir and print its path on the last line.
#
#   kube-apiserver, kubectl, etcd, envoracle   from tests/harness (k8s.io/kubernetes v1.34.4)
#   coredns                                     go install github.com/coredns/coredns@$COREDNS_VERSION
#
# Cache dir: ${KDNS_TOOLS:-/var/cache/kdns-tools}/bin. Each group is rebuilt only when its
# key (sha256 of its inputs + go version + this script) differs from the stamp file.
# KDNS_TOOLS_FORCE=1 rebuilds everything. Needs only Go (and a reachable module proxy).
set -euo pipefail

COREDNS_VERSION=v1.14.7

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/tests/harness
CACHE=${KDNS_TOOLS:-/var/cache/kdns-tools}
BIN=$CACHE/bin
HARNESS_TOOLS=(kube-apiserver kubectl etcd envoracle)

log() { echo "build-tools: $*" >&2; }

command -v go >/dev/null || { log "go not found in PATH"; exit 1; }
mkdir -p "$BIN" "$CACHE/stamps"

# One build at a time per cache dir (parallel CI steps, several worktrees).
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then flock 9; fi

export CGO_ENABLED=0
GOVER=$(go env GOVERSION)
SELF_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

harness_key() {
  (
    cd "$HARNESS"
    echo "$GOVER $SELF_HASH"
    find go.mod go.sum cmd -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -d' ' -f1
}
coredns_key() { echo "$GOVER $SELF_HASH coredns $COREDNS_VERSION" | sha256sum | cut -d' ' -f1; }

up_to_date() { # name key binaries...
  local name=$1 key=$2; shift 2
  [[ ${KDNS_TOOLS_FORCE:-0} == 1 ]] && return 1
  [[ -f $CACHE/stamps/$name && $(cat "$CACHE/stamps/$name") == "$key" ]] || return 1
  local b; for b in "$@"; do [[ -x $BIN/$b ]] || return 1; done
}

install_into_bin() { # tmpdir binaries...: atomic rename of each binary into $BIN
  local tmp=$1; shift
  local b; for b in "$@"; do mv -f "$tmp/$b" "$BIN/$b"; done
}

key=$(harness_key)
if up_to_date harness "$key" "${HARNESS_TOOLS[@]}"; then
  log "harness tools up to date"
else
  log "building ${HARNESS_TOOLS[*]} (cold: ~6-8 min on 2 cores) ..."
  start=$SECONDS
  tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
  (
    cd "$HARNESS"
    # Stamp the real version, as Kubernetes' own build does (otherwise /version says v0.0.0-master).
    kver=$(go list -m -f '{{.Version}}' k8s.io/kubernetes) # e.g. v1.34.4
    IFS=. read -r kmaj kmin _ <<<"${kver#v}"
    ld="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$kver -X $p.gitMajor=$kmaj -X $p.gitMinor=$kmin -X $p.gitTreeState=clean"
    done
    go build -buildvcs=false -trimpath -ldflags="$ld" -o "$tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kubectl \
      ./cmd/etcd ./cmd/envoracle
  )
  install_into_bin "$tmp" "${HARNESS_TOOLS[@]}"
  rmdir "$tmp"
  echo "$key" >"$CACHE/stamps/harness"
  log "harness tools built in $((SECONDS - start)) s"
fi

key=$(coredns_key)
if up_to_date coredns "$key" coredns; then
  log "coredns $COREDNS_VERSION up to date"
else
  log "building coredns $COREDNS_VERSION (cold: ~3 min) ..."
  start=$SECONDS
  tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
  # Outside any go.mod: run from the (module-less) temp dir, no workspace.
  (cd "$tmp" && GOWORK=off GOFLAGS= GOBIN="$tmp" \
    go install -trimpath -ldflags='-s -w' "github.com/coredns/coredns@$COREDNS_VERSION")
  install_into_bin "$tmp" coredns
  rmdir "$tmp"
  echo "$key" >"$CACHE/stamps/coredns"
  log "coredns built in $((SECONDS - start)) s"
fi

echo "$BIN"
