#!/usr/bin/env bash
# Run the app: the web client (built when missing or stale, its tools installed first when
# missing: see scripts/lib/ensure.sh), the REST API and the socket, on SQLite under ./data, with
# the offline assistant unless OPENAI_API_KEY is set. Arguments go to the server
# (`scripts/run.sh --help` lists every setting); every setting is also an environment variable.
#
# Nothing is printed after the server starts: its last start-up line is the URL to open.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! scripts/build-client.sh; then
  echo "[run] the web client could not be built (see above); the API and the socket still run," >&2
  echo "[run] and the server's page explains how to build the client." >&2
fi
start=$SECONDS
cargo build --release -p server
if [[ $((SECONDS - start)) -gt 5 ]]; then
  echo "[run] server release build: $((SECONDS - start)) s" >&2
fi
exec "${CARGO_TARGET_DIR:-target}/release/server" "$@"
