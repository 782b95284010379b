#!/usr/bin/env bash
# Runs README.md's walkthroughs as written — "Try it with curl", then "Try the socket with
# websocat" (its shell block, fed the JSON lines of its json block) — against a real server that
# this script starts on a free port with a fresh SQLite database and the offline assistant.
#
# The code blocks are taken from README.md itself; the only change made to them is the port:
# `localhost:8080` / `127.0.0.1:8080` become the port the server picked. Called by
# scripts/test.sh; needs curl and websocat (scripts/lib/ensure.sh installs websocat).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
README="$ROOT/README.md"
# shellcheck source=lib/server.sh
source "$ROOT/scripts/lib/server.sh"
say() { printf '[walkthrough] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

command -v websocat >/dev/null || fail "websocat is not installed (cargo install websocat --locked)"

# `block SECTION LANG`: the first ```LANG block after the `## SECTION` heading.
block() {
  awk -v section="## $1" -v fence="\`\`\`$2" '
    $0 == section { in_section = 1; next }
    in_section && /^## / { exit }
    in_section && !in_block && $0 == fence { in_block = 1; next }
    in_block && /^```/ { exit }
    in_block { print }
  ' "$README"
}

WORK="$(mktemp -d)"
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- a real server on a free port -----------------------------------------------------------------
cargo build --quiet -p server
SERVER="${CARGO_TARGET_DIR:-$ROOT/target}/debug/server"
(
  cd "$WORK"
  exec env BIND_ADDR=127.0.0.1:0 DATA_DIR="$WORK/data" DATABASE_URL="sqlite://$WORK/todo.db?mode=rwc" \
    AGENT=offline RUST_LOG=warn,server=info "$SERVER" >"$WORK/server.log" 2>&1
) &
SERVER_PID=$!
ADDR="$(server_address "$WORK/server.log" "$SERVER_PID")" || fail "the server did not start (its log is above)"
PORT="${ADDR##*:}"
say "server on port $PORT"
on_port() { sed -E "s/(localhost|127\.0\.0\.1):8080/\1:$PORT/g"; }

# --- "Try it with curl" ---------------------------------------------------------------------------
block "Try it with curl" sh | on_port >"$WORK/curl.sh"
[[ -s "$WORK/curl.sh" ]] || fail "no sh block under '## Try it with curl' in README.md"
(cd "$WORK" && bash -eu curl.sh) >"$WORK/curl.out" 2>&1 || { cat "$WORK/curl.out" >&2; fail "the curl walkthrough exited with an error"; }
expect() { # expect FILE WHAT PATTERN
  grep -qE -- "$3" "$1" || { cat "$1" >&2; fail "$2: no match for /$3/ in the output above"; }
}
expect "$WORK/curl.out" "register/verify/login answer with the user" '"user":\{"id":1,"email":"ada@example.com"'
expect "$WORK/curl.out" "verify says until when" '"expires_at":'
expect "$WORK/curl.out" "the todo is added" '"todo":\{"id":1,"title":"Buy milk"'
expect "$WORK/curl.out" "the pending list shows it" '"todos":\[\{"id":1,"title":"Buy milk"'
expect "$WORK/curl.out" "PATCH completes it" '"completed":true'
expect "$WORK/curl.out" "logout answers 204 (the last thing printed)" '204$'
if grep -q '"error"' "$WORK/curl.out"; then cat "$WORK/curl.out" >&2; fail "an error answer in the curl walkthrough"; fi
say "curl walkthrough: ok ($(grep -c '^curl' "$WORK/curl.sh") commands)"

# --- "Try the socket with websocat" --------------------------------------------------------------
block "Try the socket with websocat" sh | on_port >"$WORK/socket.sh"
block "Try the socket with websocat" json >"$WORK/frames.jsonl"
[[ -s "$WORK/socket.sh" && -s "$WORK/frames.jsonl" ]] || fail "no sh/json blocks under '## Try the socket with websocat'"
mkfifo "$WORK/stdin"
(cd "$WORK" && bash -eu socket.sh <"$WORK/stdin" >"$WORK/socket.out" 2>&1) &
SOCKET_PID=$!
# Type the lines as a user would (the fifo stays open until the answers are in). A websocat that
# already quit must fail the run with its message, not kill this script with SIGPIPE.
trap '' PIPE
exec 3>"$WORK/stdin"
sleep 1
while IFS= read -r line; do printf '%s\n' "$line" >&3 2>/dev/null || break; sleep 0.2; done <"$WORK/frames.jsonl"
for _ in $(seq 1 150); do
  grep -q '"type":"chat.done"' "$WORK/socket.out" && grep -q '"type":"pong","id":"6"\|"id":"6","type":"pong"' "$WORK/socket.out" && break
  kill -0 "$SOCKET_PID" 2>/dev/null || break
  sleep 0.1
done
exec 3>&-
wait "$SOCKET_PID" || { cat "$WORK/socket.out" >&2; fail "the websocat walkthrough exited with an error"; }
out="$WORK/socket.out"
[[ "$(head -1 "$out")" == *'"type":"welcome"'* ]] || { cat "$out" >&2; fail "the server did not speak first with welcome"; }
for id in 1 2 3 4 5; do expect "$out" "the ack of command $id" "\"type\":\"ack\",\"id\":\"$id\"|\"id\":\"$id\",\"type\":\"ack\""; done
expect "$out" "todo.list lists Buy milk" '"todos":\[\{"id":1,"title":"Buy milk"'
expect "$out" "todo.add is fanned out" '"type":"todo.created".*"title":"Call mom"'
expect "$out" "todo.complete completes todo 2" '"type":"todo.updated".*"id":2.*"completed":true'
expect "$out" "the assistant adds bread" '"type":"chat.tool_call".*"add_task"'
expect "$out" "the assistant's answer streams" '"type":"chat.delta"'
expect "$out" "the assistant finishes" '"type":"chat.done".*"finish_reason":"stop"'
expect "$out" "ping gets pong" '"type":"pong"'
if grep -q '"type":"error"' "$out"; then cat "$out" >&2; fail "an error frame in the socket walkthrough"; fi
say "websocat walkthrough: ok ($(wc -l <"$out") frames)"
