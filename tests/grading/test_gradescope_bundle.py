"""`distlab gradescope build`: the autograder zip Gradescope runs, tried in a simulated /autograder.

The bundle is built once (with an instructor's secret set), its file list is checked (setup.sh,
run_autograder, the wheel without solutions, the secret kept private), and then unpacked the
way Gradescope does ("Autograder Specifications": the zip into /autograder/source,
run_autograder copied to /autograder, the submission in /autograder/submission) under
tmp_path. run_autograder runs with AUTOGRADER_ROOT pointing there and DISTLAB_COMMAND set to
this checkout's distlab (setup.sh's apt-get and pip are Gradescope's image build, not run
here); results.json must follow Gradescope's documented format.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.grading.test_report_safety import check_gradescope_results

ROOT = Path(__file__).resolve().parents[2]
DISTLAB = Path(sys.executable).with_name("distlab")
SECRET = "instructors-only-5f2c"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    env = {k: v for k, v in os.environ.items() if k != "DISTLAB_GRADER_SECRET_FILE"}
    env["DISTLAB_GRADER_SECRET"] = SECRET
    done = subprocess.run([sys.executable, "-m", "distlab", "gradescope", "build", "--lab", "5", "--out", str(out)],
                          cwd=tmp_path_factory.mktemp("cwd"), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keep it private" in done.stdout
    return out


def test_the_bundle_holds_the_scripts_the_wheel_and_the_secret_only(bundle):
    archive = zipfile.ZipFile(bundle)
    names = archive.namelist()
    (wheel,) = [n for n in names if n.endswith(".whl")]
    assert sorted(names) == sorted(["setup.sh", "run_autograder", "grader-secret", wheel])
    mode = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
    assert mode["setup.sh"] == mode["run_autograder"] == 0o755
    assert mode["grader-secret"] == 0o600 and archive.read("grader-secret").decode().strip() == SECRET
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600  # the zip holds the secret
    inside = zipfile.ZipFile(io.BytesIO(archive.read(wheel))).namelist()
    assert "distlab/grading/runner.py" in inside and "distlab/course_files/labs/lab5-election.ipynb" in inside
    assert not [n for n in inside if "solution" in n.lower()], "the grader's wheel must not carry answers"

    setup = archive.read("setup.sh").decode()
    assert "apt-get install -y -qq python3 python3-venv bubblewrap" in setup
    assert f'pip install --quiet "$SOURCE"/{wheel}' in setup
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


def autograder(tmp_path: Path, bundle: Path, *submitted: tuple[str, bytes]) -> tuple[dict, subprocess.CompletedProcess, Path]:
    """Lay out /autograder as Gradescope does, run run_autograder there; return results.json."""
    root = tmp_path / "autograder"
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)  # zipfile does not restore modes; Gradescope does
    for name, data in submitted:
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    # The distlab it runs records the secret file it was given, then grades.
    log = tmp_path / "secret-seen"
    wrapper = tmp_path / "distlab-wrapper"
    wrapper.write_text(f'#!/bin/sh\ncat "$DISTLAB_GRADER_SECRET_FILE" > {log} 2>/dev/null\nexec {DISTLAB} "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTLAB_GRADER_SECRET")}
    env.update(AUTOGRADER_ROOT=str(root), DISTLAB_COMMAND=str(wrapper))
    done = subprocess.run([root / "run_autograder"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (root / "results").iterdir()) == ["results.json"]
    data = json.loads((root / "results" / "results.json").read_text())
    check_gradescope_results(data)
    assert all(t["status"] in ("passed", "failed") for t in data["tests"])
    return data, done, log


def test_a_solution_scores_full_marks_with_the_bundled_secret(bundle, tmp_path):
    notebook = (ROOT / "solutions" / "lab5-election.ipynb").read_bytes()
    data, _, seen = autograder(tmp_path, bundle, ("lab5-election.ipynb", notebook))
    assert data["score"] == 8
    assert sum(t["max_score"] for t in data["tests"]) == 8
    assert data["tests"] and all(t["status"] == "passed" for t in data["tests"])
    assert seen.read_text().strip() == SECRET  # run_autograder handed the grader the secret file


def test_a_fresh_lab_scores_zero(bundle, tmp_path):
    notebook = (ROOT / "labs" / "lab5-election.ipynb").read_bytes()
    data, _, _ = autograder(tmp_path, bundle, ("my work/lab5.ipynb", notebook))  # in a folder: found too
    assert data["score"] == 0
    graded = [t for t in data["tests"] if t["max_score"] > 0]
    assert graded and all(t["status"] == "failed" for t in graded)


@pytest.mark.parametrize("files, says", [
    ([("answers.py", b"print(1)\n")], "No notebook (.ipynb) in the submission"),
    ([("a.ipynb", b"{}"), ("b/c.ipynb", b"{}")], "2 notebooks (a.ipynb, b/c.ipynb)"),
], ids=["no notebook", "two notebooks"])
def test_a_submission_without_exactly_one_notebook_gets_one_failed_test_saying_why(bundle, tmp_path, files, says):
    data, _, seen = autograder(tmp_path, bundle, *files)
    (test,) = data["tests"]
    assert test["status"] == "failed" and test["score"] == 0 and test["max_score"] == 8
    assert says in test["output"] and says in data["output"]
    assert data["score"] == 0 and not seen.exists()  # the grader never ran


def test_a_notebook_the_grader_cannot_read_is_reported(bundle, tmp_path):
    data, _, _ = autograder(tmp_path, bundle, ("lab5.ipynb", b"not json"))
    assert data["score"] == 0
    assert any(t["status"] == "failed" for t in data["tests"])
