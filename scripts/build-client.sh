#!/usr/bin/env bash
# Build the web client (client/) into client/dist: wasm32 release build, wasm-bindgen glue,
# wasm-opt -Oz, content-hashed file names, index.html.
#
#   scripts/build-client.sh            build when client/dist is missing or older than the sources
#   scripts/build-client.sh --force    build anyway
#   scripts/build-client.sh --check    exit 0 when client/dist is up to date, 1 otherwise
#
# Two toolchains are supported, and the script says which one it used:
#   rustup  - a normal machine: `rustup target add wasm32-unknown-unknown`
#   debian  - no rustup wasm32 target (e.g. offline): Debian's rustc-web, cargo-web,
#             rust-web-src, rust-web-llvm and lld-22 packages build std for wasm32 themselves
#             (build-std, RUSTC_BOOTSTRAP=1); settings in client/.cargo/wasm-debian.toml.
# Tools it needs, installed when missing:
#   wasm-bindgen  exactly the version in client/Cargo.lock (`cargo install wasm-bindgen-cli`, 10-20 min once)
#   wasm-opt      binaryen from npm (client/package.json); Debian's binaryen is too old and
#                 silently breaks wasm-bindgen output, so it is never used. Without npm the
#                 build still works, unoptimized, with a warning.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT="$ROOT/client"
DIST="$CLIENT/dist"
CRATE=todo_client
TARGET=wasm32-unknown-unknown

say() { printf '[build-client] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

FORCE=0
CHECK=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

# --- up to date? -----------------------------------------------------------------------------
# dist/.stamp is written last; the build is current when no source is newer than it.
sources=("$CLIENT/src" "$CLIENT/static" "$CLIENT/Cargo.toml" "$CLIENT/Cargo.lock"
         "$ROOT/protocol/src" "$ROOT/protocol/Cargo.toml" "$ROOT/scripts/build-client.sh")
up_to_date() {
  [[ -f "$DIST/.stamp" && -f "$DIST/index.html" ]] || return 1
  [[ -z "$(find "${sources[@]}" -newer "$DIST/.stamp" -print -quit 2>/dev/null)" ]]
}
if [[ $CHECK == 1 ]]; then
  up_to_date && { say "client/dist is up to date"; exit 0; }
  say "client/dist is missing or stale"; exit 1
fi
if [[ $FORCE == 0 ]] && up_to_date; then
  say "client/dist is up to date (use --force to rebuild)"
  exit 0
fi

# --- which toolchain --------------------------------------------------------------------------
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  ROUTE=rustup
elif [[ -x /usr/bin/rustc && -d /usr/lib/rustlib/src/rust/library ]] && command -v /usr/bin/rust-lld >/dev/null 2>&1; then
  ROUTE=debian
else
  die "no way to build for $TARGET. Either run 'rustup target add $TARGET', or install Debian's
  rustc-web cargo-web rust-web-src rust-web-llvm lld-22 packages."
fi
say "toolchain: $ROUTE"

cd "$CLIENT"
case "$ROUTE" in
  rustup)
    cargo build --release --target "$TARGET"
    ;;
  debian)
    # /usr/bin first, or rustup's cargo/rustc (no wasm32 std) would be picked.
    RUSTC_BOOTSTRAP=1 PATH="/usr/bin:$PATH" cargo --config .cargo/wasm-debian.toml build --release
    ;;
esac
WASM_IN="$CLIENT/target/$TARGET/release/$CRATE.wasm"
[[ -f "$WASM_IN" ]] || die "the build did not produce $WASM_IN"

# --- wasm-bindgen, the version of Cargo.lock ---------------------------------------------------
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$CLIENT/Cargo.lock")"
[[ -n "$WB_VERSION" ]] || die "cannot find wasm-bindgen in client/Cargo.lock"
have_wb="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have_wb" != "$WB_VERSION" ]]; then
  say "installing wasm-bindgen-cli $WB_VERSION (found '${have_wb:-none}'); this takes 10-20 minutes once"
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

# --- wasm-opt from npm's binaryen -------------------------------------------------------------
WASM_OPT="$CLIENT/node_modules/.bin/wasm-opt"
if [[ ! -x "$WASM_OPT" ]] && command -v npm >/dev/null 2>&1; then
  say "installing binaryen (wasm-opt) from npm into client/node_modules"
  (cd "$CLIENT" && npm install --no-audit --no-fund --silent) || say "warning: npm install failed"
fi

# --- assemble into a fresh directory, then swap it in (a running server never sees half) -----
OUT="$CLIENT/dist.tmp"
rm -rf "$OUT"
mkdir -p "$OUT"
wasm-bindgen --target web --no-typescript --out-dir "$OUT" --out-name app "$WASM_IN"
if [[ -x "$WASM_OPT" ]]; then
  "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$OUT/app_bg.wasm" -o "$OUT/app_bg.wasm"
  OPT="wasm-opt -Oz"
else
  say "warning: wasm-opt not found (install npm, or run 'npm install' in client/): the wasm is not optimized"
  OPT="not optimized"
fi

hash_of() { sha256sum "$1" | cut -c1-16; }
WASM_NAME="app-$(hash_of "$OUT/app_bg.wasm").wasm"
mv "$OUT/app_bg.wasm" "$OUT/$WASM_NAME"
# Start the app from the glue module itself, with the hashed wasm name: index.html then needs
# no inline script, so the CSP can forbid them.
printf '\nawait __wbg_init({ module_or_path: new URL("./%s", import.meta.url) });\n' "$WASM_NAME" >> "$OUT/app.js"
grep -q '__wbg_init' "$OUT/app.js" || die "the wasm-bindgen glue has no __wbg_init; update build-client.sh"
JS_NAME="app-$(hash_of "$OUT/app.js").js"
mv "$OUT/app.js" "$OUT/$JS_NAME"
CSS_NAME="style-$(hash_of "$CLIENT/static/style.css").css"
cp "$CLIENT/static/style.css" "$OUT/$CSS_NAME"
sed -e "s/{{SCRIPT}}/$JS_NAME/g" -e "s/{{STYLE}}/$CSS_NAME/g" "$CLIENT/static/index.html" > "$OUT/index.html"

raw=$(stat -c %s "$OUT/$WASM_NAME")
gz=$(gzip -9 -c "$OUT/$WASM_NAME" | wc -c)
js=$(stat -c %s "$OUT/$JS_NAME")
printf 'toolchain=%s\nwasm=%s\nwasm_bytes=%s\nwasm_gzip_bytes=%s\njs_bytes=%s\nwasm_opt=%s\n' \
  "$ROUTE" "$WASM_NAME" "$raw" "$gz" "$js" "$OPT" > "$OUT/build-info.txt"
touch "$OUT/.stamp"

rm -rf "$DIST.old"
[[ -d "$DIST" ]] && mv "$DIST" "$DIST.old"
mv "$OUT" "$DIST"
rm -rf "$DIST.old"
say "built client/dist with $ROUTE ($OPT): $WASM_NAME $raw bytes ($gz gzipped), $JS_NAME $js bytes"
