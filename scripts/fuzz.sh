#!/usr/bin/env bash
# Coverage-guided fuzzing (issue #12): builds the targets of fuzz/ with cargo-fuzz on the nightly
# toolchain (the product stays on stable), seeds each corpus, and runs the targets one after
# another for a bounded time. Fails if any target finds a crash, a hang or an out-of-memory.
#
#   FUZZ_SECONDS=30            time per target (libFuzzer -max_total_time)
#   FUZZ_TARGETS="request …"   which targets (default: all five)
#   FUZZ_TARGET_DIR=…          cargo target dir of the fuzz build (default /var/cache/kdns/target-fuzz)
#   FUZZ_ARGS="…"              more libFuzzer flags (e.g. -max_len=65535)
#
# Corpora: fuzz/corpus/<target>/ (not committed) starts from the committed fuzz/seeds/<target>/
# and what fuzz/gen_seeds.py makes from the repository's fixtures; findings land in
# fuzz/artifacts/<target>/ and the run's output in fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-"request corefile manifests proto_list watch_event"}
target_dir=${FUZZ_TARGET_DIR:-/var/cache/kdns/target-fuzz}
# Sanitizer off: the targets are safe Rust, and the exec rate matters on two cores. Debug
# assertions and overflow checks stay on (cargo-fuzz's default).
build=(-s none --target-dir "$target_dir")

# (a) cargo-fuzz, once per machine (it stays in ~/.cargo/bin).
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi

# (b) corpora: the committed seeds, then fresh ones from the fixtures.
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
done
python3 fuzz/gen_seeds.py fuzz/corpus

# (c) build once, then run each target in turn.
mkdir -p "$target_dir" fuzz/logs
start=$(date +%s)
cargo +nightly fuzz build "${build[@]}"
echo "fuzz.sh: build took $(($(date +%s) - start)) s"
failed=()
for t in $targets; do
  log="fuzz/logs/$t.log"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  if cargo +nightly fuzz run "${build[@]}" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    ${FUZZ_ARGS:-} >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    echo "fuzz.sh: $t: ok, ${execs:-?} execs in ${secs} s (${rate:-?}/s)"
  else
    echo "fuzz.sh: $t: FAILED (log: $log; inputs: fuzz/artifacts/$t/)" >&2
    grep -E -A12 '^(==[0-9]+== ERROR|thread .* panicked|SUMMARY)' "$log" | head -n 40 >&2 || tail -n 40 "$log" >&2
    failed+=("$t")
  fi
done
echo "fuzz.sh: total $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
