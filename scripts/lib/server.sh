# shellcheck shell=bash
# For scripts that boot a `server` of their own (scripts/readme-walkthrough.sh,
# scripts/deploy-check.sh): it binds port 0, so the address is read from its log.

# `server_address LOG PID`: wait (up to 30 s) for the line `listening on http://HOST:PORT` in LOG
# and print HOST:PORT; on failure (PID exited, or no such line) print the log to stderr and
# return 1.
server_address() {
  local log="$1" pid="$2" addr= _
  for _ in $(seq 1 300); do
    addr="$(grep -o 'listening on http://[0-9.:]*' "$log" 2>/dev/null | head -n1 | sed 's#^listening on http://##')" || true
    if [[ -n "$addr" ]]; then
      printf '%s\n' "$addr"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}
