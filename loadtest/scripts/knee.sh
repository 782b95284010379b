#!/usr/bin/env bash
# Find the knee (issue 12) on both databases: for SQLite (a fresh file) and then PostgreSQL (a
# fresh database on 127.0.0.1:5432), start the release server on a loopback port of its own
# choosing and run `loadtest --find-max` against it: the offered rate climbs the R10 series
# (500, 630, 800, 1000, 1250, … commands/s over all sessions) on the same open sockets,
# STEP_SECS each, until ack p99 passes P99_BOUND_MS or an error appears.
#
#   loadtest/scripts/knee.sh [more loadtest flags...]
#
# With STEPS set (e.g. STEPS=2000,6000,12000,2000) it runs that explicit schedule instead —
# every step, pass or fail — to show the server shedding load past the knee and recovering.
# Results: loadtest/results/knee-{sqlite,postgres}.{json,svg,txt,server.log} (or
# overshoot-{sqlite,postgres}.* with STEPS). Settings (environment): SESSIONS=2000
# START_RATE=500 MAX_RATE=20000 STEP_SECS=10 P99_BOUND_MS=50; DATABASES="sqlite postgres".
# At 2,000 sessions the top rate is 10 commands/s per socket, 20 per user (two tabs): under the
# server's default WS_RATE_PER_SEC of 50.
# Build first: cargo build --release -p server -p loadtest
set -euo pipefail

. "$(dirname "$0")/server.sh"

if [ -n "${STEPS:-}" ]; then
  kind=overshoot
  schedule=(--steps "$STEPS")
else
  kind=knee
  schedule=(--find-max --start-rate "${START_RATE:-500}" --max-rate "${MAX_RATE:-20000}")
fi
dbdir=$(mktemp -d)
status=0
for database in ${DATABASES:-sqlite postgres}; do
  case $database in
    sqlite) db="sqlite:$dbdir/knee.db" ;;
    postgres)
      fresh_postgres_db loadtest_knee
      db=postgres://postgres@127.0.0.1:5432/loadtest_knee ;;
    *) echo "unknown database $database"; exit 1 ;;
  esac
  name="$kind-$database"
  start_server "$name" "$db"
  "$bin/loadtest" \
    --url "$url" \
    --server-pid "$server" \
    --sessions "${SESSIONS:-2000}" \
    "${schedule[@]}" \
    --step-secs "${STEP_SECS:-10}" \
    --p99-bound-ms "${P99_BOUND_MS:-50}" \
    --sample-every 1 \
    --report "$out/$name.json" \
    --plot "$out/$name.svg" \
    "$@" 2>&1 | tee "$out/$name.txt" || status=$?
  stop_server
done
rm -rf "$dbdir"
exit "$status"
