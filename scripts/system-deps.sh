#!/bin/sh
# System packages distlab needs beside its Python ones:
#   - Graphviz's `dot` binary (the graphviz Python package only calls it): the pictures;
#   - a CJK font (Debian's fonts-noto-cjk): the chapters write Chinese terms beside the English
#     ones, and a browser without such a font draws them as empty boxes.
# As root (with apt-get) missing packages are installed; otherwise a message names the command.
#   --require  fail (exit 1) if `dot` cannot be installed: the rendering tests need it
#   --warn     only print what to do: JupyterLab runs without it, pictures do not render
# A missing CJK font is only ever a warning: nothing fails without it, it just looks wrong.
set -eu
mode=${1:---require}
CJK_FONT_PACKAGE=fonts-noto-cjk

is_root_with_apt() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_install() {
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# fontconfig answers "is there a Chinese font?"; macOS ships CJK fonts and has no fc-list.
have_cjk_font() {
    ! command -v fc-list >/dev/null 2>&1 || [ -n "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]
}

if ! have_cjk_font; then
    if is_root_with_apt; then
        echo "distlab: installing a CJK font ($CJK_FONT_PACKAGE) with apt-get, for the Chinese terms ..."
        apt_install "$CJK_FONT_PACKAGE" || true
    fi
    if ! have_cjk_font; then
        echo "distlab: no Chinese (CJK) font found; the Chinese terms will show as boxes. Install one with:
  Debian/Ubuntu: sudo apt-get install $CJK_FONT_PACKAGE" >&2
    fi
fi

if command -v dot >/dev/null 2>&1; then
    exit 0
fi
if is_root_with_apt; then
    echo "distlab: installing graphviz (the 'dot' binary) with apt-get ..."
    apt_install graphviz
    command -v dot >/dev/null 2>&1 && exit 0
fi
msg="distlab: Graphviz's 'dot' binary is missing. Install it with:
  Debian/Ubuntu: sudo apt-get install graphviz
  macOS:         brew install graphviz"
echo "$msg" >&2
[ "$mode" = --warn ] && exit 0
exit 1
