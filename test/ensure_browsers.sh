#!/usr/bin/env bash
# Before `npm test`: the browser runs need Chromium and Firefox ESR. On a Debian
# machine where we are root, install the missing ones from Debian's packages;
# elsewhere, say what is missing and how to point the tests at a browser.
set -euo pipefail
chromium=${PLAYWRIGHT_CHROMIUM:-/usr/bin/chromium}
firefox=${FIREFOX_PATH:-/usr/bin/firefox-esr}
missing=()
[ -x "$chromium" ] || missing+=(chromium)
[ -x "$firefox" ] || missing+=(firefox-esr)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing browsers: ${missing[*]}. Install them (Debian: apt-get install -y chromium firefox-esr)" >&2
  echo "or set PLAYWRIGHT_CHROMIUM / FIREFOX_PATH to their executables." >&2
  exit 1
fi
