#!/bin/sh
# Make sure Graphviz's `dot` binary is on PATH (the graphviz Python package only calls it).
#   --require  fail (exit 1) if it cannot be installed: the rendering tests need it
#   --warn     only print what to do: JupyterLab runs without it, pictures do not render
set -eu
mode=${1:---require}

if command -v dot >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "distlab: installing graphviz (the 'dot' binary) with apt-get ..."
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
    command -v dot >/dev/null 2>&1 && exit 0
fi
msg="distlab: Graphviz's 'dot' binary is missing. Install it with:
  Debian/Ubuntu: sudo apt-get install graphviz
  macOS:         brew install graphviz"
echo "$msg" >&2
[ "$mode" = --warn ] && exit 0
exit 1
