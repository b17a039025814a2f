#!/bin/sh
# Builds and runs lvsd's libFuzzer targets on the STABLE toolchain (no cargo-fuzz, no
# nightly): the SanitizerCoverage instrumentation libFuzzer needs is reachable through the
# stable -C passes / -C llvm-args flags. See docs/fuzzing.md.
#
#   fuzz/run.sh build                 build every target
#   fuzz/run.sh run TARGET [ARGS...]  run one target on its corpus (libFuzzer ARGS, e.g.
#                                     -max_total_time=60 or -runs=10000000)
#   fuzz/run.sh smoke SECONDS         every target for SECONDS each (CI)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
TARGETS="config vrrp_decode ipvs_decode http_response dns_reply"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks ${RUSTFLAGS_EXTRA:-}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/target}"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (they are not
# linked with libFuzzer).
TRIPLE=$(rustc -vV | sed -n "s/^host: //p")
bin() { echo "$CARGO_TARGET_DIR/$TRIPLE/release/$1"; }

build() { cargo build --release --locked --bins --target "$TRIPLE"; }

run() {
    t=$1
    shift
    mkdir -p "$here/corpus/$t" "$here/artifacts/$t"
    # New inputs go to a scratch corpus; the seeds in the repo stay as they are.
    work="$CARGO_TARGET_DIR/corpus/$t"
    mkdir -p "$work"
    "$(bin "$t")" -artifact_prefix="$here/artifacts/$t/" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 "$@" "$work" "$here/corpus/$t"
}

case "${1:-}" in
build) build ;;
run)
    shift
    build
    run "$@"
    ;;
smoke)
    secs=${2:-10}
    build
    for t in $TARGETS; do
        run "$t" -max_total_time="$secs" -print_final_stats=1
    done
    ;;
*)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac
