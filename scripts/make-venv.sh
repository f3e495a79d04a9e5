#!/bin/sh
# Create the project's virtual environment with a Python >= 3.10, or say exactly what is missing.
# Usage: scripts/make-venv.sh PYTHON VENV_DIR
set -eu
python=${1:-python3}
venv=${2:-.venv}

if ! command -v "$python" >/dev/null 2>&1; then
    echo "distlab: '$python' was not found. Install Python 3.10 or newer:" >&2
    echo "  Debian/Ubuntu: sudo apt-get install python3 python3-venv" >&2
    echo "  macOS:         brew install python@3.12   (then: make PYTHON=python3.12 ...)" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "distlab: $("$python" --version 2>&1) is too old; distlab needs Python 3.10 or newer." >&2
    echo "  Run with a newer interpreter, e.g.: make PYTHON=python3.12 test" >&2
    exit 1
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    # Debian ships venv/ensurepip separately; install it where we may, otherwise name the command.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt-get update -qq && (apt-get install -y -qq "python$pyver-venv" || apt-get install -y -qq python3-venv)
        "$python" -m venv "$venv"
    else
        echo "distlab: '$python -m venv' failed. On Debian/Ubuntu run: sudo apt-get install python3-venv" >&2
        exit 1
    fi
fi
echo "distlab: created $venv with $("$venv/bin/python" --version)"
