#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and black-box tests on SQLite
# and on PostgreSQL, the web client's tests, its build and the browser test, and the load
# tester's smoke run.
#
# It gets what it needs first, saying what it installs (scripts/lib/ensure.sh): PostgreSQL at
# $TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is started when it is
# installed and down; chromium + chromium-driver (apt, as root on Debian), websocat (crates.io),
# rustfmt/clippy, nginx (apt), and the web client's toolchain (through scripts/build-client.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/ensure.sh
source scripts/lib/ensure.sh
PG_URL="${TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
step() { printf '\n==> %s\n' "$*" >&2; }

step "set-up (what is missing is installed, and said so)"
ensure_rust_components
ensure_postgres "$PG_URL"
ensure_chromium
ensure_websocat

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path client/Cargo.toml -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --manifest-path client/Cargo.toml --all-targets --features lint-web -- -D warnings

step "duplicate heavy crates"
# One version of each heavy crate (the RustCrypto 0.10/0.11 split under jsonwebtoken and
# argon2 is known and small; see docs/ARCHITECTURE.md).
for crate in tokio hyper tungstenite sqlx-core rustls aws-lc-rs serde reqwest; do
  n=$(cargo tree -e normal --prefix none -i "$crate" 2>/dev/null | grep "^$crate v" | sort -u | wc -l)
  if [ "$n" -gt 1 ]; then echo "more than one version of $crate in the tree" >&2; exit 1; fi
done
if cargo tree -e normal --prefix none -i ring 2>/dev/null | grep -q "^ring v"; then
  echo "ring is in the tree: one TLS stack (aws-lc) only" >&2; exit 1
fi

step "tests on SQLite"
cargo test --workspace

step "README walkthroughs (curl and websocat, as written)"
scripts/readme-walkthrough.sh

step "tests on PostgreSQL ($PG_URL)"
TEST_DATABASE_URL="$PG_URL" cargo test -p server --test api
TEST_DATABASE_URL="$PG_URL" cargo test -p server --test api pg_only -- --ignored

step "schemathesis: the OpenAPI document against the server (exits non-zero on any failure)"
scripts/schemathesis.sh

step "behind nginx: two instances on one PostgreSQL, the load tester through the proxy (docs/deploy.md)"
ensure_nginx
TEST_PG_URL="$PG_URL" scripts/deploy-check.sh

step "web client: unit tests"
cargo test --manifest-path client/Cargo.toml

step "web client: build, then the browser tests (real Chromium)"
scripts/build-client.sh
# They are #[ignore]d for a plain `cargo test` (listed as ignored there); here they run.
cargo test -p server --test browser -- --ignored --nocapture
