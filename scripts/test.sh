#!/usr/bin/env bash
# Runs the whole test suite. The end-to-end tests start the real binaries, so
# they are built first (in the same profile, sharing one RocksDB build).
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
# The IATI export is checked against the IATI 2.03 schema with xmllint.
if ! command -v xmllint >/dev/null; then
    apt_install "xmllint, for the IATI schema check" libxml2-utils
fi
# The console's tests (tests/tests/console.rs) drive Debian's Chromium
# headless through chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install "Chromium and chromedriver, for the console's browser tests" chromium chromium-driver
fi
cargo build --workspace --bins
cargo test --workspace "$@"
