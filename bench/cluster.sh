#!/usr/bin/env bash
# A 3-voter Tansiq cluster and a 3-member etcd cluster on loopback, driven in
# the same run, in two shapes:
#
# - one write per request: Tansiq's tests/src/bin/tansiq-bench.rs against
#   the leader, CLIENTS concurrent donors each submitting one signed event
#   per request and waiting for its receipt (every node re-verifies every
#   signature); etcd's `etcdctl check perf --load=LOAD` (xl = 1000 clients,
#   256-byte keys, 1024-byte values, 60 s, rate-limited at 15000 writes/s);
# - 100 writes per request: tansiq-bench's SubmitBatch of 100 events, 16
#   clients; etcd transactions of 100 puts (256-byte keys, 1024-byte values),
#   `etcdctl txn`, one process per transaction, TXN_LOOPS loops at once.
#
# Prints throughputs, and for each shape the CPU time (user + system, from
# /proc) each node or member and the client spent per write, and the ratio
# of the whole cluster's CPU per write (nodes or members, clients apart):
# Tansiq's / etcd's. On a CPU-bound machine that says where each system's
# time goes. Not a test: the figures depend on the machine and what else
# runs on it. (Debian's etcd-server and etcd-client are installed if missing.)
# Usage: bench/cluster.sh [CLIENTS (default 1000)] [EVENTS_PER_CLIENT (default 20)] [LOAD (default xl)] [TXNS (default 400)]
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
CLIENTS="${1:-1000}"
EVENTS_PER_CLIENT="${2:-20}"
LOAD="${3:-xl}"
TXNS="${4:-400}"
TXN_LOOPS=8

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    apt_install "the bench's etcd cluster" etcd-server etcd-client
fi
# TANSIQ_BIN=DIR runs binaries copied there instead (two builds compared
# side by side); otherwise the dev profile's, built now.
if [ -n "${TANSIQ_BIN:-}" ]; then
    BIN="$TANSIQ_BIN"
else
    cargo build --workspace --bins
    BIN="$CARGO_TARGET_DIR/debug"
fi
WORK="$(mktemp -d)"
PIDS=()
# CPU seconds (user + system) of each process in PIDS, from /proc (USER_HZ = 100).
members_cpu() {
    for pid in "${PIDS[@]}"; do
        awk '{ sub(/^.*\) /, ""); printf "%.2f ", ($12 + $13) / 100 }' "/proc/$pid/stat"
    done
}
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- Tansiq: three voters ---------------------------------------------------
# Below the ephemeral range (32768-60999 on Linux): 1000 client connections
# must not take a node's port before it listens.
PORTS=(27111 27112 27113)
for id in 1 2 3; do
    dir="$WORK/tansiq-$id"
    mkdir -p "$dir"
    # All clients come from 127.0.0.1: an address may hold an eighth of
    # --max-connections, so room for CLIENTS connections from one address.
    args=(--node-id "$id" --data-dir "$dir" --listen "127.0.0.1:${PORTS[$((id - 1))]}" --plaintext
          --max-connections $(( (CLIENTS + 64) * 8 )))
    if [ "$id" = 1 ]; then
        args+=(--dev)
    else
        args+=(--genesis "$WORK/tansiq-1/genesis.json")
    fi
    RUST_LOG=warn "$BIN/tansiq-node" "${args[@]}" >"$dir/node.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        grep -q "listening on" "$dir/node.log" && break
        sleep 0.1
    done
done
members=()
for id in 1 2 3; do members+=(--member "$id=http://127.0.0.1:${PORTS[$((id - 1))]}"); done
"$BIN/tansiq" --node "http://127.0.0.1:${PORTS[0]}" cluster --key "$WORK/tansiq-1/ministry.key" init "${members[@]}" >/dev/null
leader=""
for _ in $(seq 100); do
    leader="$("$BIN/tansiq" --node "http://127.0.0.1:${PORTS[0]}" --output json cluster status \
        | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["leaderId"] if s.get("hasLeader") else "")')"
    [ -n "$leader" ] && break
    sleep 0.2
done
[ -n "$leader" ] || { echo "bench: no Tansiq leader" >&2; exit 1; }
LEADER_URL="http://127.0.0.1:${PORTS[$((leader - 1))]}"
echo "== Tansiq: 3 voters on loopback, leader $LEADER_URL"
"$BIN/tansiq-bench" --node "$LEADER_URL" --ministry-key "$WORK/tansiq-1/ministry.key" \
    --clients "$CLIENTS" --events-per-client "$EVENTS_PER_CLIENT" --single-only \
    --cpu-of "$(IFS=,; echo "${PIDS[*]}")" | tee "$WORK/tansiq.out"
echo "== Tansiq: 100 events per SubmitBatch, 16 clients"
"$BIN/tansiq-bench" --node "$LEADER_URL" --ministry-key "$WORK/tansiq-1/ministry.key" \
    --clients 16 --events-per-client 2000 --batch 100 --batched-only \
    --cpu-of "$(IFS=,; echo "${PIDS[*]}")" | tee "$WORK/tansiq-batched.out"
tansiq_rate="$(awk '/^Submit \(1 event/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/ && $(i+1) ~ /^[0-9]+$/) { print $(i+1); exit } }' "$WORK/tansiq.out")"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()

# --- etcd: three members ----------------------------------------------------
cluster="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for n in 1 2 3; do
    etcd --name "e$n" --data-dir "$WORK/etcd-$n" \
        --listen-client-urls "http://127.0.0.1:2379$n" --advertise-client-urls "http://127.0.0.1:2379$n" \
        --listen-peer-urls "http://127.0.0.1:2380$n" --initial-advertise-peer-urls "http://127.0.0.1:2380$n" \
        --initial-cluster "$cluster" --initial-cluster-state new --log-level error \
        >"$WORK/etcd-$n.log" 2>&1 &
    PIDS+=($!)
done
ENDPOINTS="127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793"
for _ in $(seq 100); do
    ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
done
echo "== etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members on loopback, etcdctl check perf --load=$LOAD"
members_cpu_before="$(members_cpu)"
# bash's `time` gives etcdctl's own CPU seconds (user, system).
TIMEFORMAT='%U %S'
{ time (ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" check perf --load="$LOAD" >"$WORK/etcd.raw" 2>&1); } 2>"$WORK/etcdctl.cpu" || true
members_cpu_after="$(members_cpu)"
tr '\r' '\n' <"$WORK/etcd.raw" | grep -E 'PASS|FAIL|Slowest|Stddev' | tee "$WORK/etcd.out" || true
etcd_rate="$(grep -oE 'Throughput (is|too low:) [0-9]+' "$WORK/etcd.out" | grep -oE '[0-9]+$' || true)"
if [ -n "$etcd_rate" ]; then
    # check perf writes for 60 s: writes = rate x 60.
    python3 - "$etcd_rate" "$members_cpu_before" "$members_cpu_after" $(cat "$WORK/etcdctl.cpu") <<'PY'
import sys
rate, before, after, user, system = sys.argv[1:6]
writes = int(rate) * 60
members = [(a - b) * 1e6 / writes for a, b in zip(map(float, after.split()), map(float, before.split()))]
client = (float(user) + float(system)) * 1e6 / writes
parts = ", ".join(f"member {n + 1} {m:.0f}" for n, m in enumerate(members))
print(f"CPU per write, microseconds (user + system): {parts}, client {client:.0f}; total {sum(members) + client:.0f}")
PY
fi | tee "$WORK/etcd.cpu.out"

# etcd, 100 puts per transaction: TXN_LOOPS loops of etcdctl txn at once.
echo "== etcd: transactions of 100 puts, $TXNS transactions, $TXN_LOOPS at once (etcdctl txn)"
python3 - "$WORK/txn" <<'PY'
import sys
value = "v" * 1024
with open(sys.argv[1], "w") as out:
    out.write("\n")  # no comparisons
    for n in range(100):
        out.write(f"put bench-txn-{n:03d}-{'k' * 240} {value}\n")
    out.write("\n\n")  # no else
PY
members_cpu_before="$(members_cpu)"
txn_started="$(date +%s.%N)"
{ time (seq "$TXNS" | xargs -P "$TXN_LOOPS" -I{} sh -c \
    "ETCDCTL_API=3 etcdctl --endpoints '$ENDPOINTS' txn --interactive=false < '$WORK/txn' >/dev/null"); } 2>"$WORK/txn.cpu"
txn_ended="$(date +%s.%N)"
members_cpu_after="$(members_cpu)"
txn_line="$(python3 - "$TXNS" "$members_cpu_before" "$members_cpu_after" $(cat "$WORK/txn.cpu") "$txn_started" "$txn_ended" <<'PY'
import sys
txns, before, after, user, system, started, ended = sys.argv[1:8]
writes = int(txns) * 100
members = [(a - b) * 1e6 / writes for a, b in zip(map(float, after.split()), map(float, before.split()))]
client = (float(user) + float(system)) * 1e6 / writes
rate = writes / (float(ended) - float(started))
parts = ", ".join(f"member {n + 1} {m:.0f}" for n, m in enumerate(members))
print(f"{rate:.0f} writes/s; CPU per write, microseconds (user + system): {parts}, client {client:.0f}; members {sum(members):.0f}")
PY
)"
echo "$txn_line"

# The cluster's CPU per write (nodes or members; clients apart), per shape.
nodes_cpu() {  # the nodes' part of tansiq-bench's "CPU per committed event" line
    grep -m1 '^CPU per committed event' "$1" | grep -oE 'node pid [0-9]+ [0-9]+' | awk '{ s += $4 } END { if (NR) print s }'
}
tansiq_single_cpu="$(nodes_cpu "$WORK/tansiq.out")"
tansiq_batched_cpu="$(nodes_cpu "$WORK/tansiq-batched.out")"
etcd_single_cpu="$(grep -oE 'member [0-9]+ [0-9]+' "$WORK/etcd.cpu.out" 2>/dev/null | awk '{ s += $3 } END { if (NR) print s }')"
etcd_batched_cpu="$(echo "$txn_line" | grep -oE 'members [0-9]+' | awk '{ print $2 }')"

echo "== same run, one write per request, $CLIENTS Tansiq clients"
echo "Tansiq (3 voters, every signature verified on every node): ${tansiq_rate:-?} events/s"
echo "etcd (3 members, check perf --load=$LOAD):                  ${etcd_rate:-?} writes/s"
if [ -n "$tansiq_rate" ] && [ -n "$etcd_rate" ]; then
    python3 -c "print(f'ratio Tansiq / etcd = {$tansiq_rate / $etcd_rate:.2f}')"
fi
echo "== the cluster's CPU per write, nodes or members (clients apart), microseconds"
echo "one write per request:  Tansiq ${tansiq_single_cpu:-?} per event, etcd ${etcd_single_cpu:-?} per write"
echo "100 writes per request: Tansiq ${tansiq_batched_cpu:-?} per event, etcd ${etcd_batched_cpu:-?} per write"
if [ -n "$tansiq_single_cpu" ] && [ -n "$etcd_single_cpu" ]; then
    python3 -c "print(f'CPU ratio Tansiq / etcd, one per request: {$tansiq_single_cpu / $etcd_single_cpu:.2f} (goal <= 0.5)')"
fi
if [ -n "$tansiq_batched_cpu" ] && [ -n "$etcd_batched_cpu" ]; then
    python3 -c "print(f'CPU ratio Tansiq / etcd, 100 per request: {$tansiq_batched_cpu / $etcd_batched_cpu:.2f} (goal <= 0.33)')"
fi
