#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each (default 60):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Installs cargo-fuzz when missing and checks for the nightly toolchain.
# Each target's corpus is kept between runs in fuzz/corpus-work/TARGET
# (seeded from the checked-in fuzz/corpus/TARGET); crashes land in
# fuzz/artifacts/TARGET. Prints one line per target,
#   TARGET: N execs, N crashes
# and exits non-zero when any target crashed. Bounded: libFuzzer stops after
# SECONDS (-max_total_time), every input after 10 s (-timeout), and at
# 2 GiB of memory (-rss_limit_mb).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
[ $# -gt 0 ] && shift
case "$secs" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked >/dev/null
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build >/dev/null 2>&1 || cargo +nightly fuzz build

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t" "artifacts/$t" "corpus/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log="$(mktemp)"
    cargo +nightly fuzz run "$t" "corpus-work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || true
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n 1)
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    echo "$t: ${execs:-0} execs, $crashes crashes"
    if [ "$crashes" -gt 0 ] || [ -z "$execs" ]; then
        status=1
        echo "---- $t: the end of libFuzzer's output" >&2
        tail -n 40 "$log" >&2
    fi
    rm -f "$log"
done
exit "$status"
