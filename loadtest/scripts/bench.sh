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
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BENCH_BIN:-$root/target/release}
out="$root/loadtest/results"
mkdir -p "$out"

# Both processes need one descriptor per socket; take the hard limit.
ulimit -n "$(ulimit -Hn)"

BIND_ADDR=127.0.0.1:0 \
DATABASE_URL=$db \
AUTH_RATE_PER_MIN=0 \
ARGON2_MEMORY_KIB=${ARGON2_MEMORY_KIB:-64} ARGON2_ITERATIONS=1 ARGON2_PARALLELISM=1 \
AGENT=offline \
RUST_LOG=${RUST_LOG:-warn,server::app=info} \
JWT_SECRET=${JWT_SECRET:-loadtest-secret-0123456789abcdef0123456789} \
  "$bin/server" >"$out/$name.server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

# Port 0: the server picks a free port and logs it; read it from *our* server's log, so the
# run can never hit another process that happens to listen on a fixed port. At most 60 s.
url=
for _ in $(seq 1 600); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$out/$name.server.log" | head -n1 | sed 's/^listening on //') || true
  if [ -n "$url" ]; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "server exited:"; cat "$out/$name.server.log"; exit 1; fi
  sleep 0.1
done
if [ -z "$url" ]; then echo "server did not log its address"; exit 1; fi

status=0
"$bin/loadtest" \
  --url "$url" \
  --server-pid "$server" \
  --report "$out/$name.json" \
  --plot "$out/$name.svg" \
  "$@" 2>&1 | tee "$out/$name.txt" || status=$?
exit "$status"
