"""The pip-installed course: build the wheel, install it into a fresh venv far from the
repository, and use it as a learner and an instructor would.

1. ``python -m build`` (sdist, then the wheel from the sdist) runs without a warning, on a copy
   of only what the sdist needs — so the build cannot lean on the checkout;
2. the wheel carries the chapters and labs as package data, and no solution;
3. in a fresh ``python -m venv`` (the dependencies are borrowed from this environment through
   a .pth line, so nothing is downloaded) and a folder outside the repository:
   ``distlab course init``, a lab's ``check`` on a correct function, ``distlab grade`` on a
   fresh and on a half-done lab notebook, and ``distlab labs build`` with and without a
   solutions folder.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
SDIST_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "lib", "course", "labs"]
VOTE_ORDER = '''def vote_order(new: Vote, current: Vote) -> bool:
    """True iff vote ``new`` beats vote ``current`` (totalOrderPredicate)."""
    return (new.peer_epoch, new.zxid, new.leader) > (current.peer_epoch, current.zxid, current.leader)
'''


def run(command, cwd, env=None, check=True, timeout=600):
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="python -m build needs the `build` package (the test extra)")
    source = tmp_path_factory.mktemp("source")
    for name in SDIST_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", ".ipynb_checkpoints"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("dist")
    # PYTHONDONTWRITEBYTECODE makes distutils warn "byte-compiling is disabled": not ours.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = run([sys.executable, "-m", "build", "--outdir", out], cwd=source, env=env)
    log = built.stdout + built.stderr
    warnings = [line for line in log.splitlines() if "warning" in line.lower()]
    assert not warnings, "python -m build warned:\n" + "\n".join(warnings)
    (found,) = out.glob("distlab-*.whl")
    return found


def test_the_wheel_ships_the_course_and_no_solutions(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "distlab/course_files/course/README.md" in names
    assert "distlab/course_files/course/09-zookeeper-data-model.ipynb" in names
    assert "distlab/course_files/labs/lab5-election.ipynb" in names
    assert {"distlab/viz/assets/viewer.js", "distlab/viz/assets/viewer.css"} <= set(names)  # the viewer's page
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not [n for n in names if "solution" in n.lower()]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata


def test_installed_wheel_runs_a_course_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    own_site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=tmp_path).stdout.strip())
    # Borrow the dependencies (not distlab: the venv's own copy comes first on sys.path).
    (own_site / "borrowed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel], cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path / "class"
    work.mkdir()
    distlab = venv / "bin" / "distlab"

    where = run([python, "-c", "import distlab; print(distlab.__file__)"], cwd=work, env=env).stdout
    assert where.startswith(str(own_site)), where

    made = run([distlab, "course", "init", work / "mine"], cwd=work, env=env)
    assert "11 chapters" in made.stdout
    lab = work / "mine" / "labs" / "lab5-election.ipynb"
    assert (work / "mine" / "course" / "README.md").is_file() and lab.is_file()
    assert not (work / "mine" / "solutions").exists()

    checked = run([python, "-c", "from distlab.grading import check\n"
                   "from distlab.zab.election import Vote\n" + VOTE_ORDER +
                   "import sys; sys.exit(0 if check('vote_order', vote_order) else 1)"], cwd=work, env=env)
    assert "public checks passed" in checked.stdout

    fresh = json.loads(run([distlab, "grade", lab, "--format", "json"], cwd=work, env=env).stdout)
    assert fresh[0]["score"] == 0 and fresh[0]["max_score"] > 0
    notebook = json.loads(lab.read_text())
    cell = next(c for c in notebook["cells"] if c.get("metadata", {}).get("distlab", {}).get("part") == "vote_order")
    cell["source"] = VOTE_ORDER.splitlines(keepends=True)
    half_done = work / "alice.ipynb"
    half_done.write_text(json.dumps(notebook))
    graded = json.loads(run([distlab, "grade", half_done, "--format", "json"], cwd=work, env=env).stdout)[0]
    vote = next(p for p in graded["parts"] if p["part"] == "vote_order")
    assert vote["points"] == vote["max_points"] > 0 and graded["score"] == vote["points"]

    refused = run([distlab, "labs", "build"], cwd=work, env=env, check=False)
    assert refused.returncode == 2 and "--solutions DIR --labs DIR" in refused.stderr
    (work / "solutions").mkdir()
    shutil.copy2(ROOT / "solutions" / "lab5-election.ipynb", work / "solutions")
    run([distlab, "labs", "build"], cwd=work, env=env)
    assert (work / "labs" / "lab5-election.ipynb").read_text() == (ROOT / "labs" / "lab5-election.ipynb").read_text()
