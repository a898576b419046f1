#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads bytes from outside: the fuzz targets in fuzz/ (cargo-fuzz,
# libFuzzer), each run for a bounded time from its seed corpus. A panic, a hang (-timeout), memory growth
# (-rss_limit_mb) or a single allocation above 64 MiB (fuzz/src/lib.rs) is a finding: the input is saved
# under fuzz/artifacts/<target>/ and the script exits non-zero.
#
#   bench/fuzz.sh                    every target for FUZZ_SECONDS (default 60) each
#   bench/fuzz.sh dns_message bdb_hash
#   bench/fuzz.sh --smoke            every target for FUZZ_SECONDS (default 3) each, on a throwaway corpus,
#                                    built without optimisation (CI)
#   bench/fuzz.sh --list             the targets
#
# Stable Rust: cargo-fuzz's default AddressSanitizer needs nightly (`-Zsanitizer`), so the targets are built
# with `cargo fuzz build -s none`: coverage instrumentation only (`-Cpasses=sancov-module` and
# `-Cllvm-args=-sanitizer-coverage-*`, both stable), no sanitizer, which code under `forbid(unsafe_code)` has
# little use for. `-a` adds debug assertions and overflow checks, so arithmetic overflow is a finding too.
# No nightly toolchain and no RUSTC_BOOTSTRAP are needed.
#
# A long run keeps what it learns: new inputs go to fuzz/target/corpus/<target> (not committed), and the next
# run starts from them and from the committed seeds in fuzz/corpus/<target>. Run one job at a time; the
# machine's other cores stay free (`nice`).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

CARGO_FUZZ_VERSION=0.13.2
smoke=0
targets=()
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    --list)
      sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vx tlink-fuzz
      exit 0
      ;;
    -*) die "unknown option $arg (see the header of $0)" ;;
    *) targets+=("$arg") ;;
  esac
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vx tlink-fuzz)
fi
seconds=${FUZZ_SECONDS:-$([[ $smoke == 1 ]] && echo 3 || echo 60)}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "FUZZ_SECONDS must be a positive number of seconds"

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
need g++ # libFuzzer itself is C++, built by libfuzzer-sys

# The smoke run builds without optimisation: it runs each target for seconds, so build time dominates (a
# fresh release build of the dependency tree takes several times longer).
if [[ $smoke == 1 ]]; then
  profile=(--dev) profile_dir=debug
else
  profile=(--release) profile_dir=release
fi
log "building ${#targets[@]} fuzz targets (${profile_dir}, coverage-instrumented, debug assertions)"
build_start=$SECONDS
# `cargo fuzz build` takes one target or all of them.
if ((${#targets[@]} == 1)); then
  (cd fuzz && nice -n 10 cargo fuzz build -s none -a "${profile[@]}" "${targets[0]}")
else
  (cd fuzz && nice -n 10 cargo fuzz build -s none -a "${profile[@]}")
fi
log "built in $((SECONDS - build_start)) s"

bin_dir=fuzz/target/x86_64-unknown-linux-gnu/$profile_dir
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
printf '%-20s %8s %12s %10s %8s  %s\n' target seconds executions exec/s corpus result
for t in "${targets[@]}"; do
  [[ -d fuzz/corpus/$t ]] || die "no seed corpus fuzz/corpus/$t"
  if [[ $smoke == 1 ]]; then
    work=$scratch/corpus/$t
  else
    work=fuzz/target/corpus/$t
  fi
  mkdir -p "$work" "fuzz/artifacts/$t"
  log_file=$scratch/$t.log
  start=$SECONDS
  status=0
  # -timeout: one input running 5 s is a hang; -rss_limit_mb: memory growth; -max_len: the largest seed, at
  # least 4 KiB (libFuzzer's default rule); -print_final_stats: the execution count read below.
  nice -n 10 "$bin_dir/$t" "$work" "fuzz/corpus/$t" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=512 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$log_file" 2>&1 || status=$?
  elapsed=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_file" | tail -n1)
  # After a finding libFuzzer prints no final stats; its last progress line (`#N ...`) gives the count.
  [[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log_file" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log_file" | tail -n1)
  corpus=$(find "$work" -type f | wc -l)
  if [[ $status == 0 ]]; then
    result=ok
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log_file" | tail -n1)
    kind=$(grep -m1 -oE 'deadly signal|panicked at|ERROR: libFuzzer: [a-z-]+|memory allocation of [0-9]+ bytes failed' "$log_file" || echo "exit $status")
    result="FOUND ($kind) ${artifact:-see $log_file}"
    failed+=("$t")
    cp "$log_file" "fuzz/artifacts/$t/last-run.log"
  fi
  printf '%-20s %8s %12s %10s %8s  %s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done

if ((${#failed[@]} > 0)); then
  log "findings in: ${failed[*]} (inputs and logs in fuzz/artifacts/<target>/; reproduce with" \
    "$bin_dir/<target> <input>)"
  exit 1
fi
log "no findings"
