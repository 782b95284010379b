#!/usr/bin/env bash
# The soak of issue 11: a release server on a loopback port of its own choosing, then
# SOAK_SECS (30 minutes) of 1,000 sessions × 1 command/s, 5 REST logins/s (each followed by a
# logout), 10 % of the users chatting with the offline assistant, sampled every SAMPLE_SECS
# (server RSS, open fds, CPU, interval ack p50/p99, errors, sockets, logins) into the report's
# time series and the plot; every acknowledged change recorded and verified through the API
# afterwards (lost / duplicated / unexpected / gaps).
#
#   loadtest/scripts/soak.sh NAME DATABASE_URL [more loadtest flags...]
#   e.g. loadtest/scripts/soak.sh soak-sqlite sqlite:/tmp/lt/db/soak.db
#        loadtest/scripts/soak.sh soak-postgres postgres://postgres@127.0.0.1:5432/loadtest_soak
#
# Results: loadtest/results/NAME.{json,svg,txt} and NAME.server.log; the record (large: about
# 100 bytes per command) goes to $RECORD_DIR (default /tmp), not into the repository.
# Settings (environment): SOAK_SECS=1800 SAMPLE_SECS=60 SESSIONS=1000 RATE=1 LOGINS_PER_SEC=5
# CHAT_FRACTION=0.1 CHAT_RATE=0.2 (turns/s per chatting tab: 2 tabs × 0.2 × 60 = 24 a minute,
# under the server's CHAT_RATE_PER_MIN of 30).
# The server keeps its real password-hashing cost here (the logins are part of the load) unless
# ARGON2_MEMORY_KIB / ARGON2_ITERATIONS are set, and its access tokens outlive the run.
# Build first: cargo build --release -p server -p loadtest
set -euo pipefail

name=$1
db=$2
shift 2
. "$(dirname "$0")/server.sh"

secs=${SOAK_SECS:-1800}
export ARGON2_MEMORY_KIB=${ARGON2_MEMORY_KIB:-19456} ARGON2_ITERATIONS=${ARGON2_ITERATIONS:-2}
# Sockets are authenticated at the upgrade; keep the tokens valid for the whole soak.
export ACCESS_TOKEN_TTL_SECS=$((secs + 3600))

start_server "$name" "$db"
status=0
"$bin/loadtest" \
  --url "$url" \
  --server-pid "$server" \
  --sessions "${SESSIONS:-1000}" \
  --duration "$secs" \
  --rate "${RATE:-1}" \
  --logins-per-sec "${LOGINS_PER_SEC:-5}" \
  --chat-fraction "${CHAT_FRACTION:-0.1}" \
  --chat-rate "${CHAT_RATE:-0.2}" \
  --sample-every "${SAMPLE_SECS:-60}" \
  --record "${RECORD_DIR:-/tmp}/$name.record.jsonl" \
  --verify \
  --report "$out/$name.json" \
  --plot "$out/$name.svg" \
  "$@" 2>&1 | tee "$out/$name.txt" || status=$?
exit "$status"
