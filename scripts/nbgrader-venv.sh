#!/bin/sh
# nbgrader in a venv of its own (.venv-nbgrader), for the test that runs `nbgrader
# generate_assignment` on every solution notebook. Kept out of .venv on purpose: nbgrader brings
# SQLAlchemy, alembic and its own JupyterLab extensions, which the course's JupyterLab should not
# load. Idempotent: a stamp file records a finished install.
set -eu
python=${1:-python3}
venv=${2:-.venv-nbgrader}
[ -f "$venv/.installed" ] && exit 0
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "nbgrader>=0.9,<0.10"
touch "$venv/.installed"
