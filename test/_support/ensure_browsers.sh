#!/usr/bin/env bash
# Before `npm test`: the browser runs need Chromium, Firefox ESR and WebKitGTK
# (WebKitWebDriver and MiniBrowser, on a virtual display: Xvfb, xauth). On a
# Debian machine where we are root, install the missing ones from Debian's
# packages; elsewhere, say what is missing and how to point the tests at them.
set -euo pipefail
chromium=${PLAYWRIGHT_CHROMIUM:-/usr/bin/chromium}
firefox=${FIREFOX_PATH:-/usr/bin/firefox-esr}
webkit_driver=${WEBKIT_DRIVER_PATH:-/usr/bin/WebKitWebDriver}
minibrowser=${MINIBROWSER_PATH:-/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser}
missing=()
[ -x "$chromium" ] || missing+=(chromium)
[ -x "$firefox" ] || missing+=(firefox-esr)
{ [ -x "$webkit_driver" ] && [ -x "$minibrowser" ]; } || missing+=(webkit2gtk-driver)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
command -v xauth >/dev/null 2>&1 || missing+=(xauth)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing: ${missing[*]}. Install them (Debian: apt-get install -y chromium firefox-esr webkit2gtk-driver xvfb xauth)" >&2
  echo "or set PLAYWRIGHT_CHROMIUM / FIREFOX_PATH / WEBKIT_DRIVER_PATH and MINIBROWSER_PATH to their executables." >&2
  exit 1
fi
