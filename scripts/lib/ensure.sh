# shellcheck shell=bash
# The set-up that the README's two commands do by themselves: `scripts/run.sh` (through
# `scripts/build-client.sh`) and `scripts/test.sh` source this file and call the `ensure_*`
# functions they need. Each one
#   - returns at once when what it ensures is already there (a second run costs milliseconds),
#   - says what it is about to install, and how long it took, before and after installing it,
#   - returns non-zero (after printing the one command that would fix it) when it cannot.
#
# It installs with the ordinary clients only: rustup, cargo install (crates.io), npm, pip (into a
# virtualenv under target/), and apt-get when running as root on Debian.

ENSURE_ROOT="${ENSURE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
WASM_TARGET=wasm32-unknown-unknown
# Debian's route to wasm32 when rustup cannot download the target (see docs/client.md).
DEBIAN_WASM_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)
SCHEMATHESIS_VERSION=4.32.5

ensure_say() { printf '[setup] %s\n' "$*" >&2; }

# `ensure_timed WHAT CMD...`: run CMD, then say how long WHAT took.
ensure_timed() {
  local what="$1" start=$SECONDS
  shift
  if "$@"; then
    ensure_say "$what: done in $((SECONDS - start)) s"
  else
    local rc=$?
    ensure_say "$what: FAILED after $((SECONDS - start)) s"
    return "$rc"
  fi
}

# --- apt (root on Debian only) -------------------------------------------------------------------

ensure_can_apt() { [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1 && [[ -f /etc/debian_version ]]; }

# Whether every package is installed.
ensure_have_debs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || return 1
  done
}

ENSURE_APT_UPDATED=0
# `ensure_apt WHY PKG...`: install the missing packages (apt-get update once, when the package
# lists are empty or do not know a package). Waits for another apt on the machine to finish.
ensure_apt() {
  local why="$1"
  shift
  local missing=() p
  for p in "$@"; do ensure_have_debs "$p" || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if ! ensure_can_apt; then
    ensure_say "$why needs: apt-get install -y --no-install-recommends ${missing[*]} (as root)"
    return 1
  fi
  local apt=(apt-get -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends)
  if [[ $ENSURE_APT_UPDATED == 0 ]]; then
    local unknown=0
    for p in "${missing[@]}"; do
      apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || unknown=1
    done
    if [[ $unknown == 1 ]]; then
      ensure_say "apt-get update (the package lists do not know ${missing[*]} yet)"
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq
      ENSURE_APT_UPDATED=1
    fi
  fi
  ensure_say "$why: installing Debian packages ${missing[*]}"
  ensure_timed "apt-get install ${missing[*]}" \
    env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null
}

# --- the web client's toolchain ------------------------------------------------------------------

ensure_rustup_wasm() {
  command -v rustup >/dev/null 2>&1 &&
    (cd "$ENSURE_ROOT/client" && rustup target list --installed 2>/dev/null) | grep -qx "$WASM_TARGET"
}

ensure_debian_wasm() {
  [[ -x /usr/bin/rustc && -d /usr/lib/rustlib/src/rust/library && -x /usr/bin/rust-lld ]]
}

# A way to compile for wasm32: rustup's target where rustup can download it; otherwise, as root
# on Debian, Debian's rustc-web route; otherwise the command to run.
ensure_wasm_route() {
  ensure_rustup_wasm && return 0
  ensure_debian_wasm && return 0
  if command -v rustup >/dev/null 2>&1; then
    ensure_say "the web client needs the $WASM_TARGET target: rustup target add $WASM_TARGET"
    # Offline, rustup fails (or hangs on a dead network): bound it and try the next route.
    if ensure_timed "rustup target add $WASM_TARGET" \
      bash -c "cd '$ENSURE_ROOT/client' && timeout 300 rustup target add $WASM_TARGET"; then
      return 0
    fi
    ensure_say "rustup could not download the target"
  fi
  if ensure_can_apt; then
    ensure_apt "the web client (Debian's wasm32 route: rustc-web builds std for wasm32)" \
      "${DEBIAN_WASM_PACKAGES[@]}" && ensure_debian_wasm && return 0
  fi
  ensure_say "cannot build the web client here. Run one of:"
  ensure_say "  rustup target add $WASM_TARGET                  (where rustup can download)"
  ensure_say "  apt-get install -y --no-install-recommends ${DEBIAN_WASM_PACKAGES[*]}   (Debian, as root)"
  return 1
}

# The wasm-bindgen version the client is built with (client/Cargo.lock).
ensure_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
    "$ENSURE_ROOT/client/Cargo.lock"
}

# wasm-bindgen-cli of exactly the version in client/Cargo.lock (its output must match the crate).
ensure_wasm_bindgen() {
  local want have
  want="$(ensure_wasm_bindgen_version)"
  [[ -n "$want" ]] || { ensure_say "cannot find wasm-bindgen in client/Cargo.lock"; return 1; }
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  [[ "$have" == "$want" ]] && return 0
  ensure_say "installing wasm-bindgen-cli $want from crates.io (found '${have:-none}'): cargo install, 3-6 min on 2 cores, once"
  ensure_timed "cargo install wasm-bindgen-cli $want" \
    cargo install --quiet wasm-bindgen-cli --version "$want"
}

# wasm-opt from npm's binaryen (client/package.json): Debian's binaryen is too old and silently
# breaks wasm-bindgen's output. Without npm the build still works, unoptimized.
ensure_wasm_opt() {
  [[ -x "$ENSURE_ROOT/client/node_modules/.bin/wasm-opt" ]] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    ensure_apt "wasm-opt (npm's binaryen)" npm || return 1
  fi
  ensure_say "installing binaryen (wasm-opt) from npm into client/node_modules"
  ensure_timed "npm install binaryen" \
    bash -c "cd '$ENSURE_ROOT/client' && npm install --no-audit --no-fund --silent"
}

# --- what the test command needs -----------------------------------------------------------------

# rustfmt and clippy (the format and lint steps).
ensure_rust_components() {
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  ensure_say "installing ${missing[*]}: rustup component add ${missing[*]}"
  ensure_timed "rustup component add ${missing[*]}" rustup component add "${missing[@]}"
}

# PostgreSQL answering at HOST:PORT of $1 (a postgres:// URL): started when it is installed and
# down; otherwise the way to get it is printed.
ensure_postgres() {
  local url="$1" hostport host port
  hostport="$(sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#' <<<"$url")"
  host="${hostport%%:*}"
  port="${hostport##*:}"
  [[ "$port" == "$hostport" ]] && port=5432
  local ready=(pg_isready -q -h "$host" -p "$port")
  if ! command -v pg_isready >/dev/null 2>&1; then
    ensure_say "PostgreSQL is not installed. Install it (Debian: apt-get install postgresql), allow"
    ensure_say "  trust (or set TEST_PG_URL with a password) for $host, and run scripts/test.sh again"
    return 1
  fi
  "${ready[@]}" && return 0
  local versions
  versions="$(ls /etc/postgresql 2>/dev/null | head -1)"
  if [[ -n "$versions" && $EUID -eq 0 ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
    ensure_say "starting PostgreSQL: pg_ctlcluster --skip-systemctl-redirect $versions main start"
    pg_ctlcluster --skip-systemctl-redirect "$versions" main start || true
    local _
    for _ in $(seq 1 30); do "${ready[@]}" && return 0; sleep 1; done
  fi
  ensure_say "PostgreSQL does not answer at $host:$port. Start it, e.g.:"
  ensure_say "  pg_ctlcluster --skip-systemctl-redirect ${versions:-<version>} main start   (as root)"
  ensure_say "or point TEST_PG_URL at one."
  return 1
}

# Chromium and its WebDriver, for the browser test (CHROME_BIN / CHROMEDRIVER override).
ensure_chromium() {
  if [[ -n "${CHROME_BIN:-}" && -n "${CHROMEDRIVER:-}" ]]; then return 0; fi
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] && return 0
  ensure_apt "the browser test" chromium chromium-driver
}

# websocat, for the README's socket walkthrough (not a Debian package: crates.io).
ensure_websocat() {
  command -v websocat >/dev/null 2>&1 && return 0
  ensure_say "installing websocat from crates.io: cargo install websocat --locked (a few minutes, once)"
  ensure_timed "cargo install websocat" cargo install --quiet websocat --locked
}

# schemathesis in a virtualenv under target/venv; prints nothing when it is there. The path of
# its command: "$(ensure_schemathesis_bin)".
ensure_schemathesis_bin() { printf '%s\n' "$ENSURE_ROOT/target/venv/bin/schemathesis"; }
ensure_schemathesis() {
  local venv="$ENSURE_ROOT/target/venv"
  if [[ -x "$venv/bin/schemathesis" ]] &&
    "$venv/bin/pip" show schemathesis 2>/dev/null | grep -qx "Version: $SCHEMATHESIS_VERSION"; then
    return 0
  fi
  if ! python3 -m venv --help >/dev/null 2>&1; then
    ensure_apt "the schemathesis virtualenv" python3-venv || return 1
  fi
  ensure_say "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into target/venv"
  ensure_timed "pip install schemathesis==$SCHEMATHESIS_VERSION" bash -c "
    python3 -m venv '$venv' &&
    '$venv/bin/pip' install --quiet --disable-pip-version-check 'schemathesis==$SCHEMATHESIS_VERSION'"
}

# nginx (Debian's package), for the reverse-proxy test; the binary is /usr/sbin/nginx.
ensure_nginx() {
  [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null 2>&1 && return 0
  ensure_apt "the reverse-proxy test" nginx
}
