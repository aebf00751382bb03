#!/usr/bin/env bash
# CI smoke run of the fuzz targets (FUZZING.md): builds fuzz/ with cargo-fuzz (installing it if
# missing), replays each target's committed seed corpus, then fuzzes each for
# FUZZ_SMOKE_SECS seconds (default 20), one target at a time on one core. Any crash, leak,
# timeout or out-of-memory fails the run; cargo-fuzz leaves the input in
# fuzz/artifacts/<target>/ and prints how to reproduce it.
#
# The stable toolchain runs cargo-fuzz's nightly flags with RUSTC_BOOTSTRAP=1. FUZZ_SANITIZER
# (default `address`, cargo-fuzz's own default; see FUZZING.md) picks the sanitizer. New
# inputs go to a scratch directory, so the committed corpus is never changed by a smoke run.
set -euo pipefail
cd "$(dirname "$0")"

secs="${FUZZ_SMOKE_SECS:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi

start=$(date +%s)
cargo fuzz build -s "$sanitizer"
built=$(date +%s)
echo "fuzz smoke: build took $((built - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in $(cargo fuzz list); do
    dict=()
    [[ -f "dicts/$target.dict" ]] && dict=("-dict=dicts/$target.dict")
    mkdir -p "$scratch/$target"
    echo "fuzz smoke: $target (${secs} s)"
    if ! cargo fuzz run -s "$sanitizer" "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 "${dict[@]}" \
        -print_final_stats=1 2>"$scratch/$target.log"; then
        tail -n 60 "$scratch/$target.log"
        failed+=("$target")
    else
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done )' \
            "$scratch/$target.log" | tr '\n' ' '
        echo
    fi
done
echo "fuzz smoke: $(($(date +%s) - start)) s in all ($(($(date +%s) - built)) s fuzzing)"
if ((${#failed[@]})); then
    echo "fuzz smoke: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz smoke: every target ran ${secs} s without a crash"
