#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: real DNS clients and tools.
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v busybox >/dev/null || need+=(busybox)
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)

if ((${#need[@]})); then
  echo "install-deps: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo (Rust) is required" >&2; exit 1; }
echo "install-deps: ok ($(dig -v 2>&1 | head -1); $(kdig -V | head -1))"
