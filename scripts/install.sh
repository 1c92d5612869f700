#!/usr/bin/env bash
# Builds tansiq-node and tansiq (the optimised build the tests run: Cargo.toml's
# [profile.dev], sharing its RocksDB build with them) and installs both into
# PREFIX/bin (default /usr/local/bin).
# Usage: scripts/install.sh [PREFIX]
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
PREFIX="${1:-/usr/local}"
cargo build --workspace --bins
mkdir -p "$PREFIX/bin"
for binary in tansiq-node tansiq; do
    install -m 0755 "$CARGO_TARGET_DIR/debug/$binary" "$PREFIX/bin/$binary"
    echo "installed $PREFIX/bin/$binary"
done
