#!/usr/bin/env bash
# A donor site's node joining a ledger that is already large: how long it
# takes to catch up from a snapshot, how much memory it needs meanwhile, and
# how many times the snapshot was sent and installed.
#
# One voter on loopback is loaded by tests/src/bin/tansiq-bench.rs (CLIENTS
# donors x EVENTS_PER_CLIENT events, in SubmitBatch requests and then one
# event per request), with `--snapshot-every SNAPSHOT_EVERY` so its log is
# purged behind its snapshots. Then a new node joins as a learner: it can
# only catch up from a snapshot, then the log after it.
#
# Prints the snapshot's size, the learner's catch-up time and peak resident
# memory (VmHWM), the transfers begun and installs done (from its log), and
# the warnings and errors in the leader's log.
# Not a test: the figures depend on the machine and what else runs on it.
# Usage: bench/snapshot.sh [CLIENTS (default 50)] [EVENTS_PER_CLIENT (default 2000)] [SNAPSHOT_EVERY (default 5000)] [batched]
# ("batched": load only in SubmitBatch requests, e.g. `bench/snapshot.sh 100 10000 500 batched`
# for a ledger of a million events in a few minutes; a Raft entry then holds
# many requests, so SNAPSHOT_EVERY, which counts entries, must be small.)
# LEARNER_BIN=DIR runs the learner from DIR/tansiq-node (the leader and the
# client stay this build's): to compare two builds' learners on one load.
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
CLIENTS="${1:-50}"
EVENTS_PER_CLIENT="${2:-2000}"
SNAPSHOT_EVERY="${3:-5000}"
SHAPES=()
[ "${4:-}" = "batched" ] && SHAPES=(--batched-only)

cargo build --workspace --bins
BIN="$CARGO_TARGET_DIR/debug"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Below the ephemeral port range, as in bench/cluster.sh.
LEADER="http://127.0.0.1:27151"
LEARNER="http://127.0.0.1:27152"
start_node() { # id, log level, extra flags...
    local id="$1" level="$2"
    shift 2
    mkdir -p "$WORK/n$id"
    local bin="$BIN"
    [ "$id" = 2 ] && bin="${LEARNER_BIN:-$BIN}"
    RUST_LOG="$level" "$bin/tansiq-node" --node-id "$id" --data-dir "$WORK/n$id" \
        --listen "127.0.0.1:2715$id" --plaintext "$@" >"$WORK/n$id/node.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        grep -q "listening on" "$WORK/n$id/node.log" && return
        sleep 0.1
    done
    echo "bench: node $id did not start; its log:" >&2
    cat "$WORK/n$id/node.log" >&2
    exit 1
}
position() { # node url
    "$BIN/tansiq" --node "$1" --output json cluster status 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin).get("position", 0))' 2>/dev/null
}

start_node 1 warn --dev --snapshot-every "$SNAPSHOT_EVERY"
"$BIN/tansiq" --node "$LEADER" cluster --key "$WORK/n1/ministry.key" init --member "1=$LEADER" >/dev/null
for _ in $(seq 100); do
    [ "$(position "$LEADER")" != "" ] && break
    sleep 0.2
done
echo "== loading one voter: $CLIENTS donors x $EVENTS_PER_CLIENT events per load shape, --snapshot-every $SNAPSHOT_EVERY"
"$BIN/tansiq-bench" --node "$LEADER" --ministry-key "$WORK/n1/ministry.key" \
    --clients "$CLIENTS" --events-per-client "$EVENTS_PER_CLIENT" "${SHAPES[@]}" | grep -E "^(load shape|Submit)"
snapshot_bytes="$(stat -c %s "$WORK"/n1/db.snapshots/*.snapshot 2>/dev/null | tail -1 || true)"
echo "leader: ledger position $(position "$LEADER"), latest snapshot ${snapshot_bytes:-?} bytes"

start_node 2 info --genesis "$WORK/n1/genesis.json"
learner_pid="${PIDS[1]}"
started="$(date +%s.%N)"
# add-learner returns once the learner caught up; the bench watches meanwhile.
"$BIN/tansiq" --node "$LEADER" cluster --key "$WORK/n1/ministry.key" add-learner "2=$LEARNER" >/dev/null &
target="$(position "$LEADER")"
caught_up=""
for _ in $(seq 2400); do
    # At or past: adding the learner logs its own event after `target`.
    if [ "$(position "$LEARNER")" -ge "$target" ] 2>/dev/null; then
        caught_up="$(date +%s.%N)"
        break
    fi
    sleep 0.25
done
wait %% 2>/dev/null || true
[ -n "$caught_up" ] || { echo "bench: the learner did not catch up in 10 minutes" >&2; exit 1; }
echo "== a learner joins"
python3 -c "print(f'caught up to position $target in {$caught_up - $started:.1f} s')"
echo "learner peak resident memory: $(awk '/VmHWM/ {print $2, $3}' "/proc/$learner_pid/status")"
echo "snapshot transfers begun: $(grep -c 'begin_receiving_snapshot()' "$WORK/n2/node.log"), installed: $(grep -c 'install_full_snapshot()' "$WORK/n2/node.log")"
echo "leader log: $(grep -c ' WARN ' "$WORK/n1/node.log") warnings, $(grep -c ' ERROR ' "$WORK/n1/node.log") errors"
echo "leader's warnings and errors, most frequent first:"
grep -E ' (WARN|ERROR) ' "$WORK/n1/node.log" | sed -E 's/^[^ ]+ +//; s/[0-9]+/N/g' | cut -c1-200 \
    | sort | uniq -c | sort -rn | head -5
