#!/usr/bin/env bash
# The long runs recorded in FUZZING.md: each target (or those named) for FUZZ_SECS seconds
# (default 600), one at a time, one job. New inputs go to fuzz/corpus-long/<target>/ (not
# committed), starting from the committed seeds; libFuzzer's final stats go to
# fuzz/logs/<target>.log (not committed).
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECS:-600}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
mkdir -p logs
for target in "${targets[@]}"; do
    dict=()
    [[ -f "dicts/$target.dict" ]] && dict=("-dict=dicts/$target.dict")
    mkdir -p "corpus-long/$target"
    echo "== $target $(date -u +%FT%TZ)"
    cargo fuzz run -s "$sanitizer" "$target" "corpus-long/$target" "corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 "${dict[@]}" \
        -print_final_stats=1 >"logs/$target.log" 2>&1 || echo "!! $target exited $?"
    grep -E '^#[0-9]+.*(DONE|pulse)|^stat::' "logs/$target.log" | tail -n 6
done
