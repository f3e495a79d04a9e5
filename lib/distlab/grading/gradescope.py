"""Gradescope's autograder bundle: ``distlab gradescope build --lab N --out autograder.zip``.

Gradescope ("Autograder Specifications", gradescope-autograders.readthedocs.io/en/latest/specs/)
takes a zip with ``setup.sh`` and ``run_autograder`` at its root. It unpacks the zip into
``/autograder/source``, runs ``setup.sh`` once, as root, while it builds the image (Ubuntu), and
copies ``run_autograder`` to ``/autograder/run_autograder``. For every submission it puts the
student's files in ``/autograder/submission``, runs ``run_autograder`` in ``/autograder`` and
reads ``/autograder/results/results.json`` (its stdout goes to ``/autograder/results/stdout``,
shown to instructors only).

The bundle holds:

- ``setup.sh``: apt-installs python3, python3-venv and bubblewrap, makes a venv in
  ``/autograder/distlab-venv`` and pip-installs the bundled wheel with its dependencies;
- ``run_autograder`` (Python, standard library only): finds the one ``.ipynb`` in the
  submission and runs ``distlab grade NOTEBOOK --lab N --format gradescope --out RESULTS``;
  grading a notebook *file* (not the folder) is what makes the report ``results.json``. With
  no notebook, several notebooks, or a grader that wrote nothing, it writes a ``results.json``
  of its own: one failed test that says what is wrong;
- ``distlab-*.whl``: the grader, built from this checkout; like every distlab wheel it carries
  the chapters and learner labs, never the solutions (the build checks the wheel's file list);
- ``grader-secret`` when ``DISTLAB_GRADER_SECRET`` or ``DISTLAB_GRADER_SECRET_FILE`` is set at
  build time: the instructor's secret the hidden seeds derive from. ``run_autograder`` passes
  it as ``DISTLAB_GRADER_SECRET_FILE``; such a zip must be kept private.

Paths follow the environment so the bundle can be tried outside Gradescope: ``AUTOGRADER_ROOT``
(default ``/autograder``) and ``DISTLAB_COMMAND`` (a ``distlab`` to run instead of the one
``setup.sh`` installed).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BundleError", "Bundle", "build_bundle", "build_wheel", "SETUP_SH", "RUN_AUTOGRADER"]

# What a wheel is built from (the sdist's inputs, see MANIFEST.in): never solutions/ or tests/.
WHEEL_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "lib", "course", "labs")
SECRET_NAME = "grader-secret"
EXECUTABLE = 0o755


class BundleError(Exception):
    """The bundle cannot be built (unknown lab, no checkout and no wheel, a wheel with answers)."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    lab: int
    max_score: float
    wheel: str
    names: tuple[str, ...]
    has_secret: bool


SETUP_SH = r"""#!/usr/bin/env bash
# distlab's autograder for Lab {lab}: Gradescope runs this once, as root, when it builds the
# autograder image (Ubuntu 22.04 or newer: distlab needs Python 3.10+).
set -euo pipefail
AUTOGRADER_ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$(cd "$(dirname "$0")" && pwd)"
VENV="$AUTOGRADER_ROOT/distlab-venv"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# bubblewrap: the sandbox learner code runs in (the grader falls back to a weaker one, and says
# so in every report, where the container forbids namespaces)
apt-get install -y -qq python3 python3-venv bubblewrap
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "distlab needs Python 3.10 or newer; this image has $(python3 --version 2>&1)." >&2
    echo "Choose Ubuntu 22.04 or newer as the autograder's base image." >&2
    exit 1
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$SOURCE"/{wheel}
chmod 0755 "$SOURCE/run_autograder"
if [ -f "$SOURCE/{secret}" ]; then
    chmod 0600 "$SOURCE/{secret}"   # the grader's only: learner code runs as other users
fi
"$VENV/bin/distlab" --version
"""

RUN_AUTOGRADER = r'''#!/usr/bin/env python3
"""distlab's autograder for Lab {lab}: Gradescope runs this for every submission.

It grades the one notebook in the submission with ``distlab grade NOTEBOOK --lab {lab}
--format gradescope --out RESULTS``, which writes RESULTS/results.json. With no notebook or
several, or when the grader writes no report, results.json gets one failed test saying why.
Environment: AUTOGRADER_ROOT (default /autograder), DISTLAB_COMMAND (the distlab to run; by
default the one setup.sh installed in AUTOGRADER_ROOT/distlab-venv).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

LAB = {lab}
TITLE = {title!r}
MAX_SCORE = {max_score!r}
ROOT = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
SOURCE, SUBMISSION, RESULTS = ROOT / "source", ROOT / "submission", ROOT / "results"
REPORT = RESULTS / "results.json"
DISTLAB = os.environ.get("DISTLAB_COMMAND") or str(ROOT / "distlab-venv" / "bin" / "distlab")
IGNORED = ("__MACOSX",)  # folders archivers add


def shown(text):
    """A file name as data: control and invisible characters become escapes."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))


def fail(why):
    """results.json with one failed test that says what is wrong; exit 0 so Gradescope shows it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {{
        "score": 0.0, "output": why, "output_format": "text",
        "tests": [{{"name": "submission", "name_format": "text", "score": 0.0, "max_score": MAX_SCORE,
                    "status": "failed", "output": why, "output_format": "text", "visibility": "visible"}}],
        "extra_data": {{"lab": LAB, "skipped": True}},
    }}
    partial = RESULTS / "results.json.partial"
    partial.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, REPORT)
    print("run_autograder:", why)
    return 0


def notebooks():
    found = []
    for folder, subfolders, files in os.walk(SUBMISSION):  # links to folders are not followed
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in IGNORED)
        found += [Path(folder, f) for f in sorted(files) if f.lower().endswith(".ipynb") and not f.startswith(".")]
    return found


def main():
    if REPORT.exists():
        REPORT.unlink()  # never leave a report this run did not write
    found = notebooks()
    names = ", ".join(shown(p.relative_to(SUBMISSION)) for p in found)
    if not found:
        return fail(f"No notebook (.ipynb) in the submission. Upload your Lab {{LAB}} notebook ({{TITLE}}).")
    if len(found) > 1:
        return fail(f"The submission has {{len(found)}} notebooks ({{names}}); upload only your Lab {{LAB}} "
                    "notebook, so it is clear which one to grade.")
    env = dict(os.environ)
    secret = SOURCE / "{secret}"
    if secret.is_file():
        env["DISTLAB_GRADER_SECRET_FILE"] = str(secret)
    command = [DISTLAB, "grade", str(found[0]), "--lab", str(LAB), "--format", "gradescope", "--out", str(RESULTS)]
    print("run_autograder:", " ".join(command), flush=True)
    try:
        done = subprocess.run(command, env=env)
    except OSError as error:
        return fail(f"The autograder could not start the grader ({{DISTLAB}}: {{error.strerror}}); "
                    "please tell your instructor.")
    try:
        json.loads(REPORT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return fail(f"The grader stopped (exit status {{done.returncode}}) without a report for {{names}}; "
                    "please tell your instructor.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _secret() -> str | None:
    """The instructor's secret if one is set at build time (as :func:`parts.secret` reads it)."""
    from distlab.grading.parts import secret

    if not (os.environ.get("DISTLAB_GRADER_SECRET") or os.environ.get("DISTLAB_GRADER_SECRET_FILE")):
        return None
    try:
        value, _ = secret()
    except SystemExit as error:  # an unreadable secret file
        raise BundleError(str(error)) from None
    return value


def build_wheel(root: Path, out: Path) -> Path:
    """A wheel of distlab built from the checkout at ``root``, into ``out``.

    It is built from a copy of only what the sdist holds, so nothing else in the checkout
    (solutions/, tests/, build leftovers) can end up in it.
    """
    with tempfile.TemporaryDirectory(prefix="distlab-wheel-") as scratch:
        source = Path(scratch) / "distlab"
        source.mkdir()
        for name in WHEEL_INPUTS:
            path = root / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.egg-info", ".ipynb_checkpoints"))
            elif path.is_file():
                shutil.copy2(path, source / name)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                               "--wheel-dir", str(out), str(source)], capture_output=True, text=True)
        if done.returncode != 0:
            raise BundleError(f"building the wheel failed (pip wheel exited {done.returncode}):\n"
                              f"{(done.stderr or done.stdout)[-2000:]}")
    wheels = sorted(out.glob("distlab-*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"pip wheel made {len(wheels)} distlab wheels in {out}")
    return wheels[0]


def _check_wheel(wheel: Path) -> None:
    try:
        names = zipfile.ZipFile(wheel).namelist()
    except (OSError, zipfile.BadZipFile) as error:
        raise BundleError(f"{wheel}: not a wheel ({error})") from None
    answers = [n for n in names if "solution" in n.lower()]
    if answers:
        raise BundleError(f"{wheel} carries solutions ({answers[0]}, ...): it must never reach students")
    if "distlab/grading/runner.py" not in names:
        raise BundleError(f"{wheel} holds no distlab grader")


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(info, data)


def build_bundle(lab: int, out: str | Path, wheel: str | Path | None = None) -> Bundle:
    """Write Gradescope's autograder zip for ``lab`` to ``out``; see the module docstring."""
    from distlab.course import source_tree
    from distlab.grading.parts import load_all

    labs = load_all()
    if lab not in labs:
        raise BundleError(f"there is no lab {lab} (labs: {', '.join(map(str, sorted(labs)))})")
    entry = labs[lab]
    secret = _secret()
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="distlab-bundle-") as scratch:
        if wheel is None:
            root = source_tree()
            if root is None:
                raise BundleError("not in a distlab checkout, so there is nothing to build the grader's wheel "
                                  "from; give one with --wheel FILE (python -m build makes it)")
            wheel = build_wheel(root, Path(scratch))
        wheel = Path(wheel)
        _check_wheel(wheel)
        max_score = float(entry.points)
        files = {
            "setup.sh": (SETUP_SH.format(lab=lab, wheel=wheel.name, secret=SECRET_NAME), EXECUTABLE),
            "run_autograder": (RUN_AUTOGRADER.format(lab=lab, title=entry.title, max_score=max_score,
                                                     secret=SECRET_NAME), EXECUTABLE),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w") as bundle:
            for name, (text, mode) in files.items():
                _add(bundle, name, text.encode(), mode)
            _add(bundle, wheel.name, wheel.read_bytes(), 0o644)
            if secret is not None:
                _add(bundle, SECRET_NAME, (secret + "\n").encode(), 0o600)
        if secret is not None:
            os.chmod(partial, 0o600)  # the zip now holds the secret
        os.replace(partial, out)
    names = tuple(zipfile.ZipFile(out).namelist())
    return Bundle(out, lab, max_score, wheel.name, names, secret is not None)
