#!/usr/bin/env bash
# Install the browser the HTML tests drive (tests/browser.py): Debian's chromium, and the fonts
# its pages need. Nothing downloads a browser at test time; Playwright's Python package drives
# this executable (SYMBACKPROP_CHROMIUM, else `chromium` on PATH).
# Fonts, because chromium draws with whatever fontconfig offers and a missing glyph is a box:
#   fonts-nanum    Hangul for the Korean pages (any fontconfig font covering Hangul will do;
#                  TeX's install takes this one too, so Korean needs nothing more)
#   fonts-lmodern  Latin Modern Math, the OpenType MATH font chromium's MathML lays out
#                  stretchy operators, radicals and scripts with (fc-match math picks it)
#   fonts-dejavu-core  the default Latin sans and serif
# Idempotent: does nothing if chromium prints a tiny page and the fonts are there.
set -euo pipefail

PACKAGES=(chromium fonts-nanum fonts-lmodern fonts-dejavu-core)

browser_works() {
  command -v chromium >/dev/null 2>&1 || return 1
  fc-list :lang=ko family | grep -q . || return 1
  fc-list 'Latin Modern Math' family | grep -q . || return 1
  local dir rc=0
  dir="$(mktemp -d)"
  printf '<!doctype html><html lang="ko"><title>t</title><p id="p">역전파 ok</p></html>' \
    > "$dir/check.html"
  timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$dir/profile" \
    --dump-dom "file://$dir/check.html" 2>/dev/null | grep -q '역전파 ok' || rc=1
  rm -rf "$dir"
  return "$rc"
}

if browser_works; then
  echo "install-browser: chromium and its fonts already present and working; nothing to do."
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-browser: need root (or sudo) to run apt-get" >&2; exit 1
  fi
fi

echo "install-browser: installing ${PACKAGES[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"

if ! browser_works; then
  echo "install-browser: chromium installed but could not print a tiny page" >&2
  exit 1
fi
echo "install-browser: done."
