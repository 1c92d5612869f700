#!/usr/bin/env bash
# IATI import: `tansiq import iati` of a generated file of ACTIVITIES
# activities (default 10,000) into a fresh `tansiq-node --dev --demo`, signed
# with the demo's CARE key; prints the CLI's report (activities/s). The
# ministry first registers MUNICIPALITIES municipalities (default 1,000)
# under the demo's Nalut district; each activity is a project in one of them
# (cycling through them and through 8 DAC sectors), with a commitment. With
# MUNICIPALITIES=5 the activities go to the demo's five municipalities
# instead: 250 projects of one donor per place and sector, each checked
# against the others. Not a test: the figures depend on the machine.
# Usage: bench/iati.sh [ACTIVITIES]
# (TANSIQ_BIN=DIR runs the tansiq-node and tansiq in DIR instead of building:
# to compare two builds.)
source "$(dirname "$0")/../scripts/env.sh"
cd "$(dirname "$0")/.."
ACTIVITIES="${1:-10000}"
MUNICIPALITIES="${MUNICIPALITIES:-1000}"
if [ -n "${TANSIQ_BIN:-}" ]; then
    BIN="$TANSIQ_BIN"
else
    cargo build --workspace --bins
    BIN="$CARGO_TARGET_DIR/debug"
fi
WORK="$(mktemp -d)"
PORT=27211
cleanup() {
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The file: reporting-org GB-CHC-292506 (CARE has no IATI identifier on the
# demo ledger, so the file imports under its key).
if [ "$MUNICIPALITIES" -le 5 ]; then
    PCODES=(LY0301 LY0305 JO1105 MA0901 SY0901)
else
    PCODES=()
    for ((m = 0; m < MUNICIPALITIES; m++)); do PCODES+=("$(printf 'LY03%04d' $((1000 + m)))"); done
fi
SECTORS=(14030 12220 11220 16010 15112 21020 23230 16020)
{
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<iati-activities version="2.03">'
    for ((n = 1; n <= ACTIVITIES; n++)); do
        pcode="${PCODES[$((n % ${#PCODES[@]}))]}"
        sector="${SECTORS[$(((n / ${#PCODES[@]}) % ${#SECTORS[@]}))]}"
        printf '<iati-activity default-currency="EUR"><iati-identifier>GB-CHC-292506-BENCH-%d</iati-identifier><reporting-org ref="GB-CHC-292506" type="21"><narrative>CARE International UK</narrative></reporting-org><title><narrative>Bench activity number %d in %s</narrative></title><activity-status code="2"/><activity-date type="start-planned" iso-date="2026-02-01"/><activity-date type="end-planned" iso-date="2027-01-31"/><recipient-country code="%s" percentage="100"/><location><location-id vocabulary="G1" code="%s"/><administrative vocabulary="G1" level="2" code="%s"/></location><sector vocabulary="1" code="%s" percentage="100"/><transaction><transaction-type code="2"/><transaction-date iso-date="2026-02-01"/><value value-date="2026-02-01">%d</value></transaction></iati-activity>\n' \
            "$n" "$n" "$pcode" "${pcode:0:2}" "$pcode" "$pcode" "$sector" "$((1000 + n))"
    done
    echo '</iati-activities>'
} >"$WORK/bench.xml"
echo "bench/iati.sh: $ACTIVITIES activities, $(($(stat -c %s "$WORK/bench.xml") / 1024)) KiB; binaries in $BIN (target/debug: Cargo.toml's [profile.dev]), $(nproc) cores"

RUST_LOG=warn "$BIN/tansiq-node" --dev --demo --data-dir "$WORK/node" --listen "127.0.0.1:$PORT" --plaintext \
    >"$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 100); do
    "$BIN/tansiq" --node "http://127.0.0.1:$PORT" status >/dev/null 2>&1 && break
    sleep 0.2
done
if [ "$MUNICIPALITIES" -gt 5 ]; then
    # As the ministry, in requests of at most 1,000 events.
    for ((m = 0; m < MUNICIPALITIES; m += 1000)); do
        {
            echo '['
            for ((k = m; k < m + 1000 && k < MUNICIPALITIES; k++)); do
                [ "$k" -gt "$m" ] && echo ','
                printf '{"municipalityRegistered": {"pcode": "%s", "adminLevel": 2, "parentPcode": "LY03", "country": "LY", "name": {"latin": "Bench %d"}}}' "${PCODES[$k]}" "$k"
            done
            echo ']'
        } >"$WORK/municipalities.json"
        "$BIN/tansiq" --node "http://127.0.0.1:$PORT" submit "$WORK/municipalities.json" --key "$WORK/node/ministry.key" >/dev/null
    done
fi
"$BIN/tansiq" --node "http://127.0.0.1:$PORT" import iati "$WORK/bench.xml" --key "$WORK/node/demo-keys/care.key" \
    ${IMPORT_FLAGS:-} | grep -vE "^  "
