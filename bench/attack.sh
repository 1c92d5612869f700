#!/usr/bin/env bash
# Resource attacks on real tansiq-node processes (a fresh node per attack),
# all on loopback: for each, the node's peak memory and open files, whether a
# bystander (from 127.0.0.2) kept being served, and what the attacker (from
# 127.0.0.3) got back (see tests/src/bin/tansiq-attack.rs). Not a test: it
# asserts nothing, and its figures depend on the machine. About 3 minutes.
# Usage: bench/attack.sh [tansiq-attack flags, e.g. --only slow-submitbatch,connection-flood]
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
# The same build as the tests and the other benches: the dev profile
# (Cargo.toml); tansiq-attack prints it.
cargo build --workspace --bins
exec "$CARGO_TARGET_DIR/debug/tansiq-attack" "$@"
