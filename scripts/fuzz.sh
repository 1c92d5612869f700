#!/usr/bin/env bash
# Coverage-guided fuzzing of Tansiq's decoders (tests/fuzz/, see its
# src/lib.rs for what each target does):
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET (default 20)] [TARGET...]
#
# Targets: event_decode cli_json iati_reader snapshot_reader raft_message
# (all by default). Each target first replays its committed inputs
# (tests/fuzz/corpus/<target>/ and the crash regressions in
# tests/fuzz/regressions/<target>/), then fuzzes for SECONDS_PER_TARGET on a
# *copy* of its corpus (under $TANSIQ_FUZZ_TARGET_DIR/runs/<target>/corpus,
# so a run never grows the committed corpus). Exits non-zero if any target
# crashed, hung (over 10 s on one input) or ran out of memory (2 GiB).
#
# Longer run (an hour per target, about 5 hours; or name one target):
#
#   scripts/fuzz.sh 3600
#   scripts/fuzz.sh 3600 iati_reader
#
# Where findings land: tests/fuzz/artifacts/<target>/crash-<sha1> (also
# timeout-*, oom-*, slow-unit-*; the directory is git-ignored), with the
# full libFuzzer log in $TANSIQ_FUZZ_TARGET_DIR/runs/<target>/fuzz.log. Replay
# one with the printed binary and the file as its argument, or
# `cargo fuzz run --fuzz-dir tests/fuzz -s none <target> <file>`. A fixed
# crash's input goes to tests/fuzz/regressions/<target>/ (replayed here and by
# `cargo test --manifest-path tests/fuzz/Cargo.toml`). The grown corpus of a
# run stays in runs/<target>/corpus; to add its new inputs to the committed
# corpus in minimised form: <binary> -merge=1 tests/fuzz/corpus/<target> <that dir>.
#
# Why libFuzzer through cargo-fuzz, on the stable toolchain: with
# `--sanitizer none`, cargo-fuzz passes rustc only stable flags
# (-Cpasses=sancov-module and -Cllvm-args=-sanitizer-coverage-*, the
# instrumentation libFuzzer needs; -Cdebug-assertions; --cfg fuzzing), and
# libfuzzer-sys builds libFuzzer from its C++ sources with the system
# compiler; no -Z flag is used, so neither nightly nor RUSTC_BOOTSTRAP=1 is
# needed (checked with cargo-fuzz 0.13.2 and rustc 1.95). AddressSanitizer
# would need -Zsanitizer (nightly); the code fuzzed is safe Rust (the
# workspace forbids unsafe_code) and the targets never call into RocksDB, so
# a panic, an arithmetic overflow (debug assertions are on), a hang or
# unbounded memory is what there is to find. cargo-afl was not needed (it
# also needs its own compiler wrapper and Debian's afl++ 4.04c is old).
#
# RocksDB: tansiq-ledger links RocksDB, whose C++ library takes ~14 minutes to
# build on two cores, and a different RUSTFLAGS would rebuild it. The fuzz
# build instead links the librocksdb.a the main build produced
# (librocksdb-sys's ROCKSDB_LIB_DIR + ROCKSDB_STATIC; its build script still
# runs bindgen on the crate's bundled headers, hence libclang from
# scripts/env.sh). The library is copied to a path holding its
# librocksdb-sys version, so that a later main build in a new build
# directory does not rebuild the fuzz targets, and a new librocksdb-sys
# version does. On a machine where the main build has not run yet, this
# script runs `cargo build -p tansiq-ledger` there first.
#
# The fuzz build has its own target directory ($TANSIQ_FUZZ_TARGET_DIR,
# default $HOME/.cache/tansiq-fuzz-target): its instrumented artefacts never
# mix with the main one.
set -euo pipefail

cd "$(dirname "$0")/.."
# apt_install, libclang (bindgen) and the main build's CARGO_TARGET_DIR.
source scripts/env.sh
MAIN_TARGET_DIR="$CARGO_TARGET_DIR"
FUZZ_DIR=tests/fuzz
FUZZ_TARGET_DIR="${TANSIQ_FUZZ_TARGET_DIR:-$HOME/.cache/tansiq-fuzz-target}"
TRIPLE=x86_64-unknown-linux-gnu
ALL_TARGETS=(event_decode cli_json iati_reader snapshot_reader raft_message)

SECONDS_PER_TARGET="${1:-20}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 20)] [TARGET...]" >&2
    exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
for target in "${TARGETS[@]}"; do
    if [ ! -f "$FUZZ_DIR/fuzz_targets/$target.rs" ]; then
        echo "fuzz: no target $target (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done

started=$(date +%s)

# --- Tools -------------------------------------------------------------------
if ! command -v c++ >/dev/null 2>&1; then
    apt_install "libfuzzer-sys compiles libFuzzer (C++)" g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# --- RocksDB: the main build's library ---------------------------------------
# The version the fuzz package resolves (its own Cargo.lock).
rocksdb_version=$(awk '/^name = "librocksdb-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
    "$FUZZ_DIR/Cargo.lock")
if [ -z "$rocksdb_version" ]; then
    echo "fuzz: librocksdb-sys is not in $FUZZ_DIR/Cargo.lock" >&2
    exit 1
fi
# The newest librocksdb.a the main build made for that version (the build
# script's output names the crate's source directory, with its version).
find_main_library() {
    local out
    for out in $(ls -td "$MAIN_TARGET_DIR"/debug/build/librocksdb-sys-*/out 2>/dev/null); do
        if [ -f "$out/librocksdb.a" ] \
            && grep -qF "librocksdb-sys-$rocksdb_version" "$(dirname "$out")/output" 2>/dev/null; then
            echo "$out"
            return 0
        fi
    done
    return 1
}
ROCKSDB_LIB_DIR="$FUZZ_TARGET_DIR/librocksdb/$rocksdb_version"
if [ ! -f "$ROCKSDB_LIB_DIR/librocksdb.a" ]; then
    if ! main_out=$(find_main_library); then
        echo "fuzz: no librocksdb.a ($rocksdb_version) in $MAIN_TARGET_DIR; building tansiq-ledger (RocksDB's C++ takes ~14 minutes on two cores)" >&2
        cargo build -p tansiq-ledger
        main_out=$(find_main_library) || {
            echo "fuzz: the main build made no librocksdb.a for librocksdb-sys $rocksdb_version" >&2
            exit 1
        }
    fi
    mkdir -p "$ROCKSDB_LIB_DIR"
    cp "$main_out/librocksdb.a" "$ROCKSDB_LIB_DIR/librocksdb.a.partial"
    mv "$ROCKSDB_LIB_DIR/librocksdb.a.partial" "$ROCKSDB_LIB_DIR/librocksdb.a"
fi
export ROCKSDB_LIB_DIR ROCKSDB_STATIC=1
# Never the main target directory.
export CARGO_TARGET_DIR="$FUZZ_TARGET_DIR"

# --- Build -------------------------------------------------------------------
# Release with debug assertions (cargo-fuzz's default with -s none: -O is
# implied and -Cdebug-assertions added) and one codegen unit per crate
# (cargo-fuzz's default: instrumented code runs ~3x faster than with 16, as
# ThinLTO cannot import across units; TANSIQ_FUZZ_CODEGEN_UNITS=16 builds
# faster).
build_flags=(--fuzz-dir "$FUZZ_DIR" --sanitizer none --debug-assertions --target-dir "$FUZZ_TARGET_DIR")
if [ -n "${TANSIQ_FUZZ_CODEGEN_UNITS:-}" ]; then
    build_flags+=(--codegen-units "$TANSIQ_FUZZ_CODEGEN_UNITS")
fi
echo "fuzz: building ${TARGETS[*]} in $FUZZ_TARGET_DIR (RocksDB from $ROCKSDB_LIB_DIR)" >&2
for target in "${TARGETS[@]}"; do
    cargo fuzz build "${build_flags[@]}" "$target"
done
built=$(date +%s)
echo "fuzz: built in $((built - started)) s" >&2

# --- Run ---------------------------------------------------------------------
failed=0
for target in "${TARGETS[@]}"; do
    binary="$FUZZ_TARGET_DIR/$TRIPLE/release/$target"
    run="$FUZZ_TARGET_DIR/runs/$target"
    artifacts="$PWD/$FUZZ_DIR/artifacts/$target/"
    rm -rf "$run"
    mkdir -p "$run/corpus" "$artifacts"
    cp "$FUZZ_DIR/corpus/$target/"* "$run/corpus/" 2>/dev/null || true
    seeds=$(find "$run/corpus" -type f | wc -l)
    log="$run/fuzz.log"
    : >"$log"
    options=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts" -print_final_stats=1)

    result=ok
    # Regressions: each once (libFuzzer runs the files it is given).
    regressions=()
    if [ -d "$FUZZ_DIR/regressions/$target" ]; then
        mapfile -t regressions < <(find "$FUZZ_DIR/regressions/$target" -type f ! -name '.*' | sort)
    fi
    if [ ${#regressions[@]} -gt 0 ]; then
        if ! "$binary" "${options[@]}" "${regressions[@]}" >>"$log" 2>&1; then
            result="FAILED (a regression input crashes again)"
        fi
    fi
    if [ "$result" = ok ]; then
        if ! "$binary" "${options[@]}" -max_total_time="$SECONDS_PER_TARGET" "$run/corpus" >>"$log" 2>&1; then
            result=FAILED
        fi
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    corpus=$(find "$run/corpus" -type f | wc -l)
    coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    if [ "$result" != ok ]; then
        failed=1
        found=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | awk '{print $NF}' || true)
        result="$result${found:+: $found}"
        {
            echo "fuzz: $target failed; the end of $log:"
            grep -v '^#[0-9]' "$log" | tail -40
        } >&2
    fi
    printf '%-16s runs %-10s corpus %4s -> %-5s %-20s %s\n' \
        "$target" "${runs:-0}" "$seeds" "$corpus" "${coverage:-}" "$result"
done

ended=$(date +%s)
echo "fuzz: ${#TARGETS[@]} target(s), ${SECONDS_PER_TARGET} s each; build $((built - started)) s, total $((ended - started)) s" >&2
exit "$failed"
