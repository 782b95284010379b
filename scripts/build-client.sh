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
# What it needs is installed when missing, each step saying so first (scripts/lib/ensure.sh):
#   the wasm32 route  rustup's target, or (root on Debian) Debian's packages
#   wasm-bindgen      exactly the version in client/Cargo.lock (`cargo install wasm-bindgen-cli`, 3-6 min once)
#   wasm-opt          binaryen from npm (client/package.json); Debian's binaryen is too old and
#                     silently breaks wasm-bindgen output, so it is never used. Without npm the
#                     build still works, unoptimized, with a warning.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/ensure.sh
source "$ROOT/scripts/lib/ensure.sh"
CLIENT="$ROOT/client"
DIST="$CLIENT/dist"
CRATE=todo_client

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
         "$ROOT/protocol/src" "$ROOT/protocol/Cargo.toml" "$ROOT/scripts/build-client.sh"
         "$CLIENT/package.json")
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

# --- which toolchain (installed first when missing) --------------------------------------------
ensure_wasm_route || die "no way to build for $WASM_TARGET (see above)"
if ensure_rustup_wasm; then
  ROUTE=rustup
else
  ROUTE=debian
fi
say "toolchain: $ROUTE"
ensure_wasm_bindgen || die "wasm-bindgen-cli could not be installed (see above)"
ensure_wasm_opt || say "warning: wasm-opt could not be installed (see above)"

cd "$CLIENT"
build_start=$SECONDS
case "$ROUTE" in
  rustup)
    cargo build --release --target "$WASM_TARGET"
    ;;
  debian)
    # /usr/bin first, or rustup's cargo/rustc (no wasm32 std) would be picked.
    RUSTC_BOOTSTRAP=1 PATH="/usr/bin:$PATH" cargo --config .cargo/wasm-debian.toml build --release
    ;;
esac
WASM_IN="$CLIENT/target/$WASM_TARGET/release/$CRATE.wasm"
[[ -f "$WASM_IN" ]] || die "the build did not produce $WASM_IN"
say "wasm32 release build: $((SECONDS - build_start)) s"

# --- assemble into a fresh directory, then swap it in (a running server never sees half) -----
WASM_OPT="$CLIENT/node_modules/.bin/wasm-opt"
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
  say "warning: wasm-opt not found (install npm, then run scripts/build-client.sh --force): the wasm is not optimized"
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
