#!/usr/bin/env bash
# Runs the whole test suite. The end-to-end tests start the real binaries, so
# they are built first (in the same profile, sharing one RocksDB build).
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace "$@"
