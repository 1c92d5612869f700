#!/usr/bin/env bash
# Single-node durable ingest against one core's ed25519 batch verification,
# measured in the same run (see tests/src/bin/tansiq-bench.rs).
# Usage: bench/ingest.sh [tansiq-bench flags, e.g. --clients 32 --batch 200]
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
cargo build --workspace --bins
exec "$CARGO_TARGET_DIR/debug/tansiq-bench" "$@"
