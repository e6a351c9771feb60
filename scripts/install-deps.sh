#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: real DNS clients, real upstream DNS
# servers (Knot DNS; Unbound for DNS over TLS), Prometheus's promtool, and the tools for
# network-namespace tests.
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v busybox >/dev/null || need+=(busybox)
command -v musl-gcc >/dev/null || need+=(musl-tools)
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v ip >/dev/null || need+=(iproute2)
# The node-local role's rules (tests/node_local.rs, in network namespaces it makes).
command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v getent >/dev/null || need+=(libc-bin)
# The upstream the forward tests start on loopback (never as a system service).
command -v knotd >/dev/null || [ -x /usr/sbin/knotd ] || need+=(knot)
# The DNS-over-TLS upstream of tests/forward_tls.rs (started on loopback, never as a service).
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || need+=(unbound)
# `promtool check metrics` validates /metrics.
command -v promtool >/dev/null || need+=(prometheus)

if ((${#need[@]})); then
  echo "install-deps: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  # knot, unbound and prometheus ship services; the tests run their own instances, so keep the
  # packages from starting theirs (a temporary policy-rc.d, unless one exists already).
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  cleanup() { [ -z "$added_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d; }
  trap cleanup EXIT
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo (Rust) is required" >&2; exit 1; }
echo "install-deps: ok ($(dig -v 2>&1 | head -1); $(kdig -V | head -1); $(/usr/sbin/knotd -V | head -1); $(promtool --version 2>&1 | head -1))"
