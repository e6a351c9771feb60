#!/usr/bin/env bash
# Build the Go test tools into a fixed, cached bin dir and print its path on the last line.
#
#   kube-apiserver, kubectl, etcd, envoracle   from tests/harness (k8s.io/kubernetes v1.34.4)
#   coredns                                     go install github.com/coredns/coredns@$COREDNS_VERSION
#   helm                                        go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION
#
#   scripts/build-tools.sh [GROUP...]   GROUP: harness, coredns, helm (default: all of them)
#
# Cache dir: ${KDNS_TOOLS:-/var/cache/kdns-tools}/bin. Each group is rebuilt only when its
# key (sha256 of its inputs + go version + the shell functions that build it) differs from
# its stamp file: editing one group's recipe rebuilds that group only.
# KDNS_TOOLS_FORCE=1 rebuilds everything. Needs only Go (and a reachable module proxy).
set -euo pipefail

COREDNS_VERSION=v1.14.7
HELM_VERSION=v4.3.2

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

# The text of the shell functions that build a group (the recipe), for its key.
recipe() { declare -f up_to_date install_into_bin go_install "$@"; }

harness_key() {
  (
    cd "$HARNESS"
    echo "$GOVER"
    recipe build_harness
    find go.mod go.sum cmd -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -d' ' -f1
}
coredns_key() { { echo "$GOVER coredns $COREDNS_VERSION"; recipe build_coredns; } | sha256sum | cut -d' ' -f1; }
helm_key() { { echo "$GOVER helm $HELM_VERSION"; recipe build_helm; } | sha256sum | cut -d' ' -f1; }

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

# `go install PKG@VERSION` outside any go.mod (from the module-less temp dir, no workspace).
go_install() { # tmpdir pkg@version
  (cd "$1" && GOWORK=off GOFLAGS= GOBIN="$1" go install -trimpath -ldflags='-s -w' "$2")
}

build_harness() { # tmpdir
  (
    cd "$HARNESS"
    # Stamp the real version, as Kubernetes' own build does (otherwise /version says v0.0.0-master).
    kver=$(go list -m -f '{{.Version}}' k8s.io/kubernetes) # e.g. v1.34.4
    IFS=. read -r kmaj kmin _ <<<"${kver#v}"
    ld="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$kver -X $p.gitMajor=$kmaj -X $p.gitMinor=$kmin -X $p.gitTreeState=clean"
    done
    go build -buildvcs=false -trimpath -ldflags="$ld" -o "$1/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kubectl \
      ./cmd/etcd ./cmd/envoracle
  )
}
build_coredns() { go_install "$1" "github.com/coredns/coredns@$COREDNS_VERSION"; }
# Helm 4 (the chart tests: helm lint, helm template); the version is stamped into `helm version`.
build_helm() {
  (cd "$1" && GOWORK=off GOFLAGS= GOBIN="$1" go install -trimpath \
    -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION")
}

group() { # name what cold-time key-fn build-fn binaries...
  local name=$1 what=$2 cold=$3 keyfn=$4 buildfn=$5; shift 5
  local key start tmp
  key=$($keyfn)
  if up_to_date "$name" "$key" "$@"; then
    log "$what up to date"
    return
  fi
  log "building $what (cold: $cold) ..."
  start=$SECONDS
  tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
  $buildfn "$tmp"
  install_into_bin "$tmp" "$@"
  rm -rf "$tmp"
  echo "$key" >"$CACHE/stamps/$name"
  log "$what built in $((SECONDS - start)) s"
}

groups=("$@")
((${#groups[@]})) || groups=(harness coredns helm)
for g in "${groups[@]}"; do
  case $g in
  harness) group harness "${HARNESS_TOOLS[*]}" "~6-8 min on 2 cores" harness_key build_harness "${HARNESS_TOOLS[@]}" ;;
  coredns) group coredns "coredns $COREDNS_VERSION" "~3 min" coredns_key build_coredns coredns ;;
  helm) group helm "helm $HELM_VERSION" "~6-8 min" helm_key build_helm helm ;;
  *) log "unknown group $g (harness, coredns, helm)"; exit 2 ;;
  esac
done

echo "$BIN"
