#!/usr/bin/env bash
# Coverage queries, projection rebuild and memory at about a million events
# (see tests/src/bin/tansiq-coverage-bench.rs).
# Usage: bench/coverage.sh [flags, e.g. --projects 20000 --municipalities 1000]
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
cargo build --workspace --bins
exec "$CARGO_TARGET_DIR/debug/tansiq-coverage-bench" "$@"
