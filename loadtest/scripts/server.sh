# Sourced by the run scripts in this directory (bench.sh, knee.sh, soak.sh): start the release
# server on a loopback port of its own choosing, with a cheap argon2 cost (unless the caller
# sets ARGON2_MEMORY_KIB / ARGON2_ITERATIONS) and no auth rate limit, so thousands of users
# can be prepared in seconds; its file-descriptor limit raised to the hard limit.
#
#   start_server NAME DATABASE_URL   → sets $server (pid) and $url; the log is $out/NAME.server.log
#   stop_server                      → SIGTERM, wait (also run on exit)
#
# Sets $root (the repository), $bin (the release binaries; BENCH_BIN overrides) and $out (the
# results directory, loadtest/results; OUT overrides).

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BENCH_BIN:-$root/target/release}
out=${OUT:-$root/loadtest/results}
mkdir -p "$out"

start_server() {
  local name=$1 db=$2
  # Both processes need one descriptor per socket; take the hard limit.
  ulimit -n "$(ulimit -Hn)"
  BIND_ADDR=127.0.0.1:0 \
  DATABASE_URL=$db \
  AUTH_RATE_PER_MIN=0 \
  ARGON2_MEMORY_KIB=${ARGON2_MEMORY_KIB:-64} ARGON2_ITERATIONS=${ARGON2_ITERATIONS:-1} ARGON2_PARALLELISM=1 \
  AGENT=offline \
  RUST_LOG=${RUST_LOG:-warn,server::app=info} \
  JWT_SECRET=${JWT_SECRET:-loadtest-secret-0123456789abcdef0123456789} \
    "$bin/server" >"$out/$name.server.log" 2>&1 &
  server=$!
  trap stop_server EXIT

  # Port 0: the server picks a free port and logs it; read it from *our* server's log, so the
  # run can never hit another process that happens to listen on a fixed port. At most 60 s.
  url=
  for _ in $(seq 1 600); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$out/$name.server.log" | head -n1 | sed 's/^listening on //') || true
    if [ -n "$url" ]; then return 0; fi
    if ! kill -0 "$server" 2>/dev/null; then echo "server exited:"; cat "$out/$name.server.log"; exit 1; fi
    sleep 0.1
  done
  echo "server did not log its address"
  exit 1
}

stop_server() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}

# A fresh PostgreSQL database NAME on 127.0.0.1:5432 (dropped first if it exists).
fresh_postgres_db() {
  PGOPTIONS=--client-min-messages=warning \
    psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}
