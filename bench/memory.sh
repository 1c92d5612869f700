#!/usr/bin/env bash
# A node's resident memory on a benchmark ledger, in its default
# configuration: starts tansiq-node on DIR (a ledger that
# `bench/coverage.sh --dir DIR` built), asks what analysts ask (the
# console's overview, the country's totals, overlaps and gaps, a region's
# matrix, 200 who-supports, the console's map of the country, the overview
# and overlaps as of six past days) and prints
# the node's VmRSS and VmHWM (peak) from /proc after each step. The map
# gets a square per region (LY00..LY99, the bench's), written to DIR.
# Usage: bench/memory.sh DIR [MUNICIPALITIES (default 10000, as the bench's)]
# Each line also gives the node's anonymous and file-backed resident memory,
# and RocksDB's share from its metrics. NODE_ENV="env NAME=VALUE" runs the
# node with an environment variable set (e.g. MALLOC_ARENA_MAX=8, to compare).
set -euo pipefail
dir=${1:?usage: bench/memory.sh DIR [MUNICIPALITIES]}
municipalities=${2:-10000}
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
cargo build --workspace --bins
# TANSIQ_BIN: a folder holding other tansiq-node and tansiq binaries to measure.
bin="${TANSIQ_BIN:-$CARGO_TARGET_DIR/debug}"
grpc=127.0.0.1:27611
http=127.0.0.1:27612
boundaries="$dir/memory-regions.geojson"
{
  printf '{"type":"FeatureCollection","features":['
  for r in $(seq 0 99); do
    lon=$((10 + r % 10)); lat=$((25 + r / 10))
    printf '%s{"type":"Feature","properties":{"ADM1_PCODE":"LY%02d"},"geometry":{"type":"Polygon","coordinates":[[[%d,%d],[%d.9,%d],[%d.9,%d.9],[%d,%d.9],[%d,%d]]]}}' \
      "$([ "$r" = 0 ] || echo ,)" "$r" "$lon" "$lat" "$lon" "$lat" "$lon" "$lat" "$lon" "$lat" "$lon" "$lat"
  done
  printf ']}'
} >"$boundaries"
${NODE_ENV:-} "$bin/tansiq-node" --data-dir "$dir" --listen $grpc --plaintext --http $http \
  --boundaries "$boundaries" >"$dir/memory-node.log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true' EXIT
cli() { "$bin/tansiq" --node "http://$grpc" "$@" >/dev/null; }
for _ in $(seq 1 600); do cli head 2>/dev/null && break; sleep 0.5; done
memory() {
  local store
  # RocksDB's own share, from the node's metrics: table readers (outside
  # the cache; their index and filter blocks are in it), the block cache,
  # the memtables.
  store=$(curl -sf "http://$http/metrics" | awk '
    /^tansiq_store_table_readers_bytes / {r = $2}
    /^tansiq_store_block_cache_bytes / {c = $2}
    /^tansiq_store_memtable_bytes / {m = $2}
    END {printf "store: readers %d cache %d memtables %d MiB", r/1048576, c/1048576, m/1048576}')
  printf '%-34s %s %s\n' "$1" "$(awk '/^VmRSS|^VmHWM|^RssAnon|^RssFile/ {printf "%s %d MiB  ", $1, $2/1024}' /proc/$node/status)" "$store"
}
memory "started"
curl -sf -o /dev/null "http://$http/"
memory "console overview (/)"
cli totals LY && memory "totals LY"
cli overlaps --limit 500 && memory "overlaps (500)"
cli gaps LY && memory "gaps LY"
# Region 05 (its 100 municipalities), or the last there is on a smaller ledger.
last_region=$(( (municipalities - 1) / 100 ))
region=$(printf 'LY%02d' $(( last_region < 5 ? last_region : 5 )))
cli matrix "$region" && memory "matrix $region (a region)"
for i in $(seq 1 200); do
  index=$(( (i * 7919) % municipalities ))
  cli who-supports "$(printf 'LY%02d%04d' $((index / 100 % 100)) $index)"
done
memory "200 who-supports"
curl -sf -o /dev/null "http://$http/map"
memory "console map of the country"
# As of past days: the node keeps the counts of the last few days asked
# (limits::PAST_DAYS_COUNTED_MAX, 4); six days, so that two are dropped.
# The bench's ledgers begin on 2024-01-01, a simulated day per group of
# 2,000 events: these days have ended on a ledger of a million or more.
for day in 2024-06-01 2024-08-01 2024-10-01 2024-12-01 2025-02-01 2025-04-01; do
  curl -sf -o /dev/null "http://$http/?as_of=$day"
  curl -sf -o /dev/null "http://$http/overlaps?as_of=$day"
  memory "overview + overlaps as of $day"
done
echo "build: $bin/tansiq-node (dev profile unless TANSIQ_BIN names another)"
