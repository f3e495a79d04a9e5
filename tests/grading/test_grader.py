"""The grader is valid: right answers get full marks, stubs get none, mistakes lose points,
and hostile submissions neither harm the grader nor the batch nor get points."""

from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from distlab.grading.cli import grade_main, labs_main
from distlab.grading.notebook import graded_cells, make_lab, read_notebook
from distlab.grading.parts import LABS, load_all
from distlab.grading.report import gradescope, junit, summary_csv
from distlab.grading.runner import grade_notebook, grade_path

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
LAB5 = ROOT / "solutions" / "lab5-election.ipynb"
load_all()


def with_cell(source_path: Path, part: str, code: str, target: Path) -> Path:
    """A copy of a notebook whose graded cell for ``part`` holds ``code``."""
    notebook = json.loads(source_path.read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("distlab", {}).get("part") == part:
            cell["source"] = code
    target.write_text(json.dumps(notebook))
    return target


def scores(result) -> dict[str, float]:
    return {p.part: p.points for p in result.parts}


# ---------------------------------------------------------------- solutions and labs -----
def test_there_are_solution_notebooks_for_registered_labs():
    assert SOLUTIONS, "solutions/ is empty"
    names = {p.name for p in SOLUTIONS}
    for lab in LABS.values():
        assert lab.notebook in names, f"lab {lab.number} ({lab.notebook}) has no solution notebook"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_scores_full_marks(solution):
    result = grade_notebook(solution)
    assert not result.error, result.error
    assert result.score == result.max_score > 0, {p.part: (p.points, p.message, p.first_failure()) for p in result.parts}


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_generated_lab_scores_zero_on_every_part(solution):
    lab = ROOT / "labs" / solution.name
    result = grade_notebook(lab)
    assert result.parts and all(p.points == 0 for p in result.parts), scores(result)
    assert all("not implemented yet" in (p.first_failure().outcome.message if p.first_failure() else p.message)
               for p in result.parts)


def test_labs_are_up_to_date_with_solutions(capsys):
    assert labs_main(["build", "--check"]) == 0, capsys.readouterr().err


def test_labs_build_check_notices_a_stale_lab(tmp_path, capsys):
    labs = tmp_path / "labs"
    assert labs_main(["build", "--labs", str(labs)]) == 0
    stale = labs / LAB5.name
    stale.write_text(stale.read_text().replace("Fast Leader Election", "Slow Leader Election"))
    assert labs_main(["build", "--check", "--labs", str(labs)]) == 1
    assert "stale" in capsys.readouterr().err


def test_a_lab_keeps_no_solution_and_no_outputs():
    lab = make_lab(read_notebook(LAB5))
    text = json.dumps(lab)
    assert "### BEGIN SOLUTION" not in text and "totalOrderPredicate" in text
    assert all(cell.get("outputs", []) == [] for cell in lab["cells"] if cell["cell_type"] == "code")
    assert "raise NotImplementedError" in graded_cells(lab)["vote_order"].source


# ---------------------------------------------------------------- plausible mistakes ------
MISTAKES = [
    ("vote_order", """
def vote_order(new, current):
    # forgets the epoch: compares zxid, then id
    return (new.zxid, new.leader) > (current.zxid, current.leader)
""", "epoch"),
    ("vote_order", """
def vote_order(new, current):
    # a tie wins
    return (new.peer_epoch, new.zxid, new.leader) >= (current.peer_epoch, current.zxid, current.leader)
""", "tie"),
    ("check_leader", """
def check_leader(state, votes, leader, election_epoch):
    # trusts any leader that some vote names
    return True
""", "LEADING"),
    ("handle_notification", """
def handle_notification(state, n, vote_order, has_quorum):
    # only ever adopts better votes, never tracks rounds or quorums
    from dataclasses import replace
    from distlab.zab.election import ElectionStep, Vote
    vote = Vote(n.leader, n.zxid, n.peer_epoch)
    if vote_order(vote, state.proposal):
        return ElectionStep(replace(state, proposal=vote), broadcast=True)
    return ElectionStep(state)
""", "differs"),
]


@pytest.mark.parametrize("part, code, words", MISTAKES, ids=[f"{m[0]}:{m[2]}" for m in MISTAKES])
def test_a_plausible_mistake_loses_points_with_a_useful_message(tmp_path, part, code, words):
    submission = with_cell(LAB5, part, code, tmp_path / "student.ipynb")
    result = grade_notebook(submission, only_part=part)
    (graded,) = result.parts
    assert graded.points < graded.max_points
    failure = graded.first_failure()
    assert failure is not None and words in failure.outcome.message, failure.outcome.message


# ---------------------------------------------------------------- hostile submissions -----
HOSTILE = {
    "infinite-loop": "def vote_order(new, current):\n    while True:\n        pass\n",
    "memory-bomb": "def vote_order(new, current):\n    hog = []\n    while True:\n        hog.append(bytearray(10**7))\n",
    "sys-exit": "import sys\ndef vote_order(new, current):\n    sys.exit(0)\n",
    "os-exit": "import os\ndef vote_order(new, current):\n    os._exit(0)\n",
    "base-exception": "class Escape(BaseException):\n    pass\ndef vote_order(new, current):\n    raise Escape()\n",
    "fake-results": (
        "import os, sys\n"
        "print('{\"score\": 100, \"ok\": true}')\n"
        "for fd in range(3, 12):\n"
        "    try:\n        os.write(fd, b'{\"ok\": true}\\n' * 50)\n    except OSError:\n        pass\n"
        "def vote_order(new, current):\n    print('PASS ' * 100)\n    return True\n"
    ),
    "monkeypatch": (
        "import distlab.grading.lab5 as lab5\n"
        "from distlab.grading.parts import Outcome\n"
        "lab5.check_vote_order = lambda fn, seed: Outcome.ok()\n"
        "def vote_order(new, current):\n    return False\n"
    ),
    "network": (
        "import socket\n"
        "def vote_order(new, current):\n"
        "    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
        "    return (new.peer_epoch, new.zxid, new.leader) > (current.peer_epoch, current.zxid, current.leader)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_scores_nothing_and_leaves_the_other_parts_alone(tmp_path, name):
    submission = with_cell(LAB5, "vote_order", HOSTILE[name], tmp_path / f"{name}.ipynb")
    before = hashlib.sha256(submission.read_bytes()).hexdigest()
    result = grade_notebook(submission)
    by_part = {p.part: p for p in result.parts}
    assert by_part["vote_order"].points == 0, (name, by_part["vote_order"].first_failure())
    assert by_part["check_leader"].points == by_part["check_leader"].max_points
    assert hashlib.sha256(submission.read_bytes()).hexdigest() == before  # never modified


def test_an_infinite_loop_is_reported_as_such(tmp_path):
    submission = with_cell(LAB5, "vote_order", HOSTILE["infinite-loop"], tmp_path / "loop.ipynb")
    result = grade_notebook(submission, only_part="vote_order")
    assert "did not answer" in result.parts[0].first_failure().outcome.message


def test_submissions_cannot_read_the_graders_secret_or_write_outside(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        assert not os.environ.get("CI"), "CI runs as root: the privilege drop must be tested there"
        pytest.skip("only root can drop privileges for submissions (CI runs this as root)")
    secret = tmp_path / "secret"
    secret.write_text("the-hidden-seed-secret")
    secret.chmod(0o600)
    monkeypatch.setenv("DISTLAB_GRADER_SECRET_FILE", str(secret))
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    code = (
        f"leaked = ''\n"
        f"try:\n    leaked = open({str(secret)!r}).read()\nexcept OSError:\n    pass\n"
        f"try:\n    open({str(victim)!r}, 'w').write('overwritten')\nexcept OSError:\n    pass\n"
        f"try:\n    open({str(ROOT / 'pwned.txt')!r}, 'w').write('x')\nexcept OSError:\n    pass\n"
        "def vote_order(new, current):\n"
        "    if not leaked:\n        return False\n"
        "    return (new.peer_epoch, new.zxid, new.leader) > (current.peer_epoch, current.zxid, current.leader)\n"
    )
    submission = with_cell(LAB5, "vote_order", code, tmp_path / "snoop.ipynb")
    result = grade_notebook(submission, only_part="vote_order")
    assert result.parts[0].points == 0  # it could not read the secret
    assert victim.read_text() == "intact"
    assert not (ROOT / "pwned.txt").exists()


def test_a_batch_survives_broken_and_hostile_submissions(tmp_path):
    batch = tmp_path / "class"
    batch.mkdir()
    (batch / "good.ipynb").write_bytes(LAB5.read_bytes())
    (batch / "not-json.ipynb").write_text('{"cells": [ oops')
    stripped = json.loads(LAB5.read_text())
    stripped["cells"] = [c for c in stripped["cells"] if "part" not in c.get("metadata", {}).get("distlab", {})]
    (batch / "no-graded-cells.ipynb").write_text(json.dumps(stripped))
    with_cell(LAB5, "vote_order", HOSTILE["os-exit"], batch / "exits.ipynb")
    (batch / "carol").mkdir()
    (batch / "carol" / "lab5.ipynb").write_bytes(LAB5.read_bytes())
    (batch / "empty-folder").mkdir()
    results = {r.student: r for r in grade_path(batch, lab=5, jobs=2)}
    assert results["good"].score == results["good"].max_score == 8
    assert results["carol"].score == 8
    assert results["not-json"].score == 0 and "invalid JSON" in results["not-json"].error
    assert results["no-graded-cells"].score == 0
    assert all("no graded cell" in p.message for p in results["no-graded-cells"].parts)
    assert results["exits"].score == 6  # only vote_order lost
    assert "expected one notebook, found 0" in results["empty-folder"].error
    csv = summary_csv(results.values())
    assert csv.splitlines()[0].startswith("student,lab,score,max_score")


# ---------------------------------------------------------------- report formats ----------
def test_gradescope_results_json_has_the_documented_fields():
    data = json.loads(gradescope(grade_notebook(LAB5)))
    assert data["score"] == 8 and "execution_time" in data
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")


def test_junit_xml_parses_and_counts_failures(tmp_path):
    lab = ROOT / "labs" / LAB5.name
    root = ET.fromstring(junit([grade_notebook(LAB5), grade_notebook(lab, student="stub")]))
    suite = root.find("testsuite")
    assert suite.get("tests") == "6" and suite.get("failures") == "3"


def test_grade_command_writes_reports_for_a_folder(tmp_path, capsys):
    batch = tmp_path / "class"
    batch.mkdir()
    for name in ("ann", "bob"):
        (batch / f"{name}.ipynb").write_bytes(LAB5.read_bytes())
    out = tmp_path / "out"
    assert grade_main([str(batch), "--format", "gradescope", "--out", str(out), "--jobs", "2"]) == 0
    assert json.loads((out / "ann.results.json").read_text())["score"] == 8
    assert (out / "summary.csv").read_text().count("\n") == 3


def test_replaying_one_seed_of_one_part(capsys):
    assert grade_main([str(LAB5), "--part", "vote_order", "--seed", "12"]) == 0
    out = capsys.readouterr().out
    assert "vote_order" in out and "1/1 seeds" in out and "check_leader" not in out


@pytest.mark.parametrize("argv, message", [
    (["nowhere.ipynb"], "no such file or folder"),
    ([str(LAB5), "--seed", "3"], "give --part too"),
    ([str(LAB5), "--jobs", "0"], "--jobs >= 1"),
])
def test_grade_command_refuses_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit):
        grade_main(argv)
    assert message in capsys.readouterr().err
