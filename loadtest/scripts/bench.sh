#!/usr/bin/env bash
# Run one benchmark the way docs/benchmarks.md records it: start the release server on a
# loopback port with a cheap argon2 cost and no auth rate limit (so thousands of users can be
# prepared in seconds), raise its file-descriptor limit, point the release load tester at it
# with --server-pid (RSS and CPU in the report), then stop the server.
#
#   loadtest/scripts/bench.sh NAME DATABASE_URL [loadtest flags...]
#
# Results: loadtest/results/NAME.{json,svg,txt} and NAME.server.log.
# Build first: cargo build --release -p server -p loadtest
set -euo pipefail

name=$1
db=$2
shift 2
. "$(dirname "$0")/server.sh"

start_server "$name" "$db"
status=0
"$bin/loadtest" \
  --url "$url" \
  --server-pid "$server" \
  --report "$out/$name.json" \
  --plot "$out/$name.svg" \
  "$@" 2>&1 | tee "$out/$name.txt" || status=$?
exit "$status"
