#!/usr/bin/env bash
# The analyst console's pages on a real node at about a million events
# (see tests/src/bin/tansiq-console-bench.rs).
# Usage: bench/console.sh [flags, e.g. --dir DIR to keep (and reuse) the ledger, --requests 200]
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
cargo build --workspace --bins
exec "$CARGO_TARGET_DIR/debug/tansiq-console-bench" "$@"
