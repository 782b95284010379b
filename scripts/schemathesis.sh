#!/usr/bin/env bash
# Schema-driven fuzzing of the REST API: schemathesis 4.32 (in a virtualenv under target/venv,
# installed by scripts/lib/ensure.sh when missing) reads /api/openapi.json from a running
# server and checks every response against it, with every check it has (`--checks all`): no 5xx, statuses/headers/bodies as documented,
# invalid input refused and valid input accepted, 405 + Allow for undeclared methods, a bad
# credential never ignored. Exits non-zero on any failure.
#
#   scripts/schemathesis.sh                 (builds the debug server; SERVER_BIN=… to use another)
#   SCHEMATHESIS_ARGS="--max-examples 50" scripts/schemathesis.sh
#
# The server runs on a free loopback port with a fresh SQLite database, a tiny Argon2 cost
# (each test case logs in afresh: see scripts/schemathesis_hooks.py) and the auth and per-user
# rate limits lifted, so that the fuzzer's own volume is not what it tests: the limits have
# their black-box tests (server/tests/api/limits.rs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/target/venv"
say() { printf '[schemathesis] %s\n' "$*" >&2; }
# shellcheck source=lib/ensure.sh
source "$ROOT/scripts/lib/ensure.sh"
ensure_schemathesis
BIN="${SERVER_BIN:-}"
if [[ -z "$BIN" ]]; then
  (cd "$ROOT" && cargo build -q -p server)
  BIN="$ROOT/target/debug/server"
fi

WORK="$(mktemp -d /tmp/schemathesis.XXXXXX)"
PID=
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

BIND_ADDR=127.0.0.1:0 DATA_DIR="$WORK" AGENT=offline AUTH_RATE_PER_MIN=0 \
  WS_RATE_PER_SEC=100000 CHAT_RATE_PER_MIN=100000 ARGON2_MEMORY_KIB=64 ARGON2_ITERATIONS=1 \
  RUST_LOG=warn,server::app=info "$BIN" >"$WORK/server.log" 2>&1 &
PID=$!
URL=
for _ in $(seq 1 300); do
  URL=$(grep -o 'listening on http://[0-9.:]*' "$WORK/server.log" | head -n1 | sed 's/^listening on //') || true
  [[ -n "$URL" ]] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$URL" ]] || { say "the server did not log its address"; exit 1; }

export FUZZ_URL="$URL" FUZZ_EMAIL="fuzz@example.com" FUZZ_PASSWORD="correct horse battery"
"$VENV/bin/python" - <<'PY'
import json, os, urllib.request
body = json.dumps({"email": os.environ["FUZZ_EMAIL"], "password": os.environ["FUZZ_PASSWORD"]})
req = urllib.request.Request(os.environ["FUZZ_URL"] + "/api/auth/register", data=body.encode(),
                             headers={"content-type": "application/json"})
urllib.request.urlopen(req, timeout=30).read()
PY
say "fuzzing $URL"
cd "$ROOT/scripts"
status=0
SCHEMATHESIS_HOOKS=schemathesis_hooks "$VENV/bin/schemathesis" run "$URL/api/openapi.json" \
  --checks all --workers 1 --no-color ${SCHEMATHESIS_ARGS:-} >"$WORK/report.txt" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
  sed -n '/= FAILURES =/,/= SUMMARY =/p' "$WORK/report.txt" >&2
fi
sed -n '/= SUMMARY =/,$p' "$WORK/report.txt" >&2
if grep -qiE 'panicked' "$WORK/server.log"; then
  say "the server panicked:"; grep -iE -A5 'panicked' "$WORK/server.log" >&2; exit 1
fi
exit "$status"
