#!/usr/bin/env bash
# Fault soak: a 3-voter cluster with a donor site's learner (plaintext on
# loopback, linked through cuttable proxies) under concurrent signed
# submissions and linearizable reads, while a seeded scheduler injects one
# fault at a time: kill -9, partition, clean restart, full disk (root: a
# tmpfs), clock jump (libfaketime, installed here if missing). At the end it
# heals everything, waits for the members to converge and checks that every
# acknowledged event is on every member exactly once at its receipt's
# position and head, that the members agree, and that no reader's
# linearizable reads went backwards. tests/src/bin/tansiq-soak.rs says more.
#
# Not a test: it asserts nothing about time. Exit status 0 PASS, 1 FAIL (the
# first violation is printed; the members' logs are kept), 2 the soak could
# not run.
# Usage: bench/soak.sh [MINUTES (default 3)] [SEED (default: from the clock, printed)]
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
MINUTES="${1:-3}"
SEED="${2:-$(date +%s)}"

cargo build --workspace --bins
BIN="$CARGO_TARGET_DIR/debug"
WORK="$(mktemp -d -t tansiq-soak-bin.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# Clock jumps: a member is restarted under libfaketime (LD_PRELOAD) with its
# wall clock moved. The soak starts members through the library's Node
# helper, which runs the tansiq-node beside the soak's own executable; so
# the soak runs from $WORK/bin, where tansiq-node is a wrapper that preloads
# libfaketime for a node id whose offset file the soak wrote.
faketime_lib() {
    dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketime\.so\.1$' || true
}
CLOCK_ARGS=()
SOAK="$BIN/tansiq-soak"
LIB="$(faketime_lib)"
if [ -z "$LIB" ]; then
    apt_install "the soak's clock jumps" faketime \
        || echo "soak: could not install faketime: no clock jumps" >&2
    LIB="$(faketime_lib)"
fi
if [ -n "$LIB" ]; then
    ahead=$(( $(LD_PRELOAD="$LIB" FAKETIME="+1h" FAKETIME_DONT_FAKE_MONOTONIC=1 date +%s) - $(date +%s) ))
    if [ "$ahead" -ge 3590 ] && [ "$ahead" -le 3610 ]; then
        mkdir -p "$WORK/bin" "$WORK/clock"
        cp "$BIN/tansiq-soak" "$WORK/bin/tansiq-soak"
        ln -s "$BIN/tansiq" "$WORK/bin/tansiq"
        cat >"$WORK/bin/tansiq-node" <<EOF
#!/bin/sh
# tansiq-soak's clock jumps: the real tansiq-node, under libfaketime when the
# soak wrote a clock offset (e.g. +1h) for this node id.
id=""
previous=""
for arg in "\$@"; do
    [ "\$previous" = "--node-id" ] && id="\$arg"
    previous="\$arg"
done
if [ -n "\$id" ] && [ -s "$WORK/clock/node-\$id" ]; then
    LD_PRELOAD="$LIB" FAKETIME="\$(cat "$WORK/clock/node-\$id")" FAKETIME_DONT_FAKE_MONOTONIC=1
    export LD_PRELOAD FAKETIME FAKETIME_DONT_FAKE_MONOTONIC
fi
exec "$BIN/tansiq-node" "\$@"
EOF
        chmod +x "$WORK/bin/tansiq-node"
        SOAK="$WORK/bin/tansiq-soak"
        CLOCK_ARGS=(--clock-dir "$WORK/clock")
    else
        echo "soak: libfaketime at $LIB does not move the clock (+1h gave ${ahead} s): no clock jumps" >&2
    fi
fi

status=0
"$SOAK" --minutes "$MINUTES" --seed "$SEED" "${CLOCK_ARGS[@]}" || status=$?
exit "$status"
