#!/usr/bin/env bash
# Run the app: the web client (built when missing or stale), the REST API and the socket, on
# SQLite under ./data, with the offline assistant unless OPENAI_API_KEY is set.
# Every setting in README.md ("Configuration") can be passed as an environment variable.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! scripts/build-client.sh; then
  echo "[run] the web client could not be built (see above); the API and the socket still run," >&2
  echo "[run] and http://127.0.0.1:8080/ explains how to build the client." >&2
fi
exec cargo run --release -p server "$@"
