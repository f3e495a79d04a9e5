#!/bin/sh
# Make sure the real-browser tests can run: Debian's Chromium and Playwright's Python driver.
#
#   scripts/browser/ensure-chromium.sh [PYTHON]
#
# - Chromium comes from Debian (`apt-get install chromium`), never from `playwright install`:
#   browser builds downloaded by Playwright are not available here, and the tests drive the
#   system binary through `executable_path` (see tests/viz/browser.py).
# - Playwright's Python package (the driver only) is installed into PYTHON's environment with pip.
#
# As root it installs what is missing; otherwise it prints the commands to run. Exit status 0
# means both are usable; 1 means something is still missing (CI treats that as a failure).
set -eu
python=${1:-python3}

have_chromium() {
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}

missing=0
if ! have_chromium; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "distlab: installing Debian's chromium with apt-get ..."
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium fonts-dejavu-core >/dev/null
    fi
    if ! have_chromium; then
        echo "distlab: Chromium is missing. Install it with: sudo apt-get install chromium" >&2
        missing=1
    fi
fi

if ! "$python" -c 'import playwright.sync_api' >/dev/null 2>&1; then
    echo "distlab: installing the playwright Python driver into $("$python" -c 'import sys; print(sys.prefix)') ..."
    # Only the Python package: never `playwright install` (it downloads browser builds).
    "$python" -m pip install --quiet 'playwright>=1.40' || true
    if ! "$python" -c 'import playwright.sync_api' >/dev/null 2>&1; then
        echo "distlab: the playwright Python package is missing. Install it with: $python -m pip install playwright" >&2
        missing=1
    fi
fi
exit $missing
