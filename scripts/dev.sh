#!/usr/bin/env bash
# Starts a development node on 127.0.0.1:50051 with its data in ./tansiq-data,
# and its analyst console on http://127.0.0.1:8080/.
# Extra arguments go to tansiq-node (try --help).
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
# The node names its addresses on start; the console's is repeated as the
# line to open in a browser (127.0.0.1:8080 unless --http says otherwise).
announce() {
    while IFS= read -r line; do
        printf '%s\n' "$line"
        case "$line" in
            "tansiq-node console on "*)
                printf 'tansiq: the analyst console is at %s (open it in a browser)\n' \
                    "${line#tansiq-node console on }" ;;
        esac
    done
}
exec cargo run --quiet -p tansiq-node --bin tansiq-node -- --dev --demo "$@" > >(announce)
