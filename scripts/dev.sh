#!/usr/bin/env bash
# Starts a development node on 127.0.0.1:50051 with its data in ./tansiq-data.
# Extra arguments go to tansiq-node (try --help).
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
exec cargo run --quiet -p tansiq-node --bin tansiq-node -- --dev --demo "$@"
