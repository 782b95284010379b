#!/usr/bin/env bash
# The deployment of docs/deploy.md, for real, on loopback: two `server` instances sharing one
# PostgreSQL database, behind nginx (deploy/nginx.conf.template), then checks through the proxy:
#
#   1. a client's address reaches the app through X-Forwarded-For from the trusted proxy (a
#      client on 127.0.0.5 is listed with that ip in its devices), and a client cannot spoof it;
#   2. the load tester's smoke run through the balanced port: 0 errors;
#   3. fan-out across instances through the proxy: every user's two tabs pinned to different
#      instances (nginx ports A and B), every change seen by the other tab, 0 errors, 0 gaps.
#
#   scripts/deploy-check.sh            (needs nginx, PostgreSQL at $TEST_PG_URL, and the debug
#                                       build of server + loadtest, which it builds)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_URL="${TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN="${DEPLOY_BIN:-$ROOT/target/debug}"
say() { printf '[deploy-check] %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
# shellcheck source=lib/server.sh
source "$ROOT/scripts/lib/server.sh"

command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx)"
command -v psql >/dev/null || die "psql is not installed"
if [[ -z "${DEPLOY_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build -q -p server -p loadtest)
fi

WORK="$(mktemp -d /tmp/deploy-check.XXXXXX)"
chmod 755 "$WORK"
DB="deploy_check_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else say "kept $WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

psql "$PG_URL" -qc "CREATE DATABASE $DB" >/dev/null
DB_URL="${PG_URL%/*}/$DB"
PORT="$(free_port)"; PORT_A="$(free_port)"; PORT_B="$(free_port)"
PUBLIC="http://127.0.0.1:$PORT"

# One instance: port 0, its real address read from its own log. Both share the JWT key (a
# session opened through one is valid on the other) and trust nginx (127.0.0.1).
start_instance() {
  local name=$1
  BIND_ADDR=127.0.0.1:0 DATABASE_URL="$DB_URL" PUBLIC_URL="$PUBLIC" \
  ALLOWED_ORIGINS="http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" \
  TRUSTED_PROXIES=127.0.0.1 JWT_SECRET=deploy-check-key-0123456789abcdef0123456789 \
  AUTH_RATE_PER_MIN=0 ARGON2_MEMORY_KIB=64 ARGON2_ITERATIONS=1 AGENT=offline \
  RUST_LOG=warn,server::app=info "$BIN/server" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  server_address "$WORK/$name.log" "${PIDS[-1]}" || die "instance $name did not start (its log is above)"
}
A="$(start_instance a)"; B="$(start_instance b)"
say "instances: $A and $B on database $DB"

mkdir -p "$WORK/tmp"; chmod 777 "$WORK/tmp"
sed -e "s#@DIR@#$WORK#g" -e "s#@UPSTREAM_A@#$A#g" -e "s#@UPSTREAM_B@#$B#g" \
    -e "s#@LISTEN_A@#127.0.0.1:$PORT_A#g" -e "s#@LISTEN_B@#127.0.0.1:$PORT_B#g" \
    -e "s#@LISTEN@#127.0.0.1:$PORT#g" \
    "$ROOT/deploy/nginx.conf.template" >"$WORK/nginx.conf"
cp "$ROOT/deploy/proxy_params.conf" "$WORK/proxy_params.conf"
nginx -t -q -p "$WORK" -c "$WORK/nginx.conf" 2>"$WORK/nginx-t.log" || { cat "$WORK/nginx-t.log" >&2; die "nginx -t"; }
nginx -p "$WORK" -c "$WORK/nginx.conf"
for _ in $(seq 1 50); do curl -sf "$PUBLIC/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$PUBLIC/healthz" >/dev/null || die "nginx does not answer on $PUBLIC"
say "nginx on $PUBLIC (balanced), :$PORT_A (instance a), :$PORT_B (instance b)"

# 1. The client address, through the trusted proxy.
JAR="$WORK/jar"
curl -sf --interface 127.0.0.5 -c "$JAR" -X POST "$PUBLIC/api/auth/register" \
  -H 'content-type: application/json' -H 'X-Forwarded-For: 198.51.100.9' \
  -d '{"email":"deploy-check@example.com","password":"correct horse"}' >/dev/null \
  || die "register through nginx"
ip=$(curl -sf --interface 127.0.0.5 -b "$JAR" "$PUBLIC/api/auth/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["ip"])')
[[ "$ip" == "127.0.0.5" ]] || die "the devices list shows ip $ip, expected the client's 127.0.0.5"
say "1. client address through the proxy: $ip (a spoofed X-Forwarded-For was not believed)"

# 2. The load tester's smoke run through the balanced port.
"$BIN/loadtest" --url "$PUBLIC" --sessions 40 --duration 8 --rate 1 --quiet \
  --report "$WORK/balanced.json" >"$WORK/balanced.txt" 2>&1 || { cat "$WORK/balanced.txt" >&2; die "load tester through nginx"; }
# 3. Each user's tab 0 on instance a, tab 1 on instance b, both through nginx.
"$BIN/loadtest" --url "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" --sessions 40 \
  --duration 8 --rate 1 --quiet --user-prefix cross \
  --report "$WORK/cross.json" >"$WORK/cross.txt" 2>&1 || { cat "$WORK/cross.txt" >&2; die "cross-instance run through nginx"; }
python3 - "$WORK/balanced.json" "$WORK/cross.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    name = "balanced" if "balanced" in path else "cross-instance"
    assert r["errors"] == 0, f"{name}: {r['errors']} errors"
    assert r["connected"] == r["sessions"], f"{name}: {r['connected']}/{r['sessions']} connected"
    assert r["acks_received"] > 0, f"{name}: no acks"
    assert r["fanout_expected"] > 0, f"{name}: no fan-out expected"
    assert r["fanout_received"] == r["fanout_expected"], \
        f"{name}: {r['fanout_received']} of {r['fanout_expected']} changes reached the other tab"
    print(f"[deploy-check] {name}: {r['sessions']} sockets, {r['acks_received']} acks, "
          f"0 errors, {r['fanout_received']}/{r['fanout_expected']} changes seen by the other tab, "
          f"ack p99 {r['ack_ms']['p99']:.1f} ms, fan-out p99 {r['fanout_ms']['p99']:.1f} ms",
          file=sys.stderr)
PY
for n in a b; do
  if grep -qiE 'panicked|ERROR' "$WORK/$n.log"; then cat "$WORK/$n.log" >&2; die "instance $n logged an error"; fi
done
say "ok: two instances behind nginx serve REST, sockets and cross-instance fan-out"
