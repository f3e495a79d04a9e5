"""The solution notebooks are nbgrader assignments too.

- Always: every solution and check cell carries nbgrader's cell metadata (schema version 3:
  ``grade``, ``grade_id``, ``locked``, ``points``, ``schema_version``, ``solution``, ``task``),
  checked against nbgrader's rules — solution regions only in solution cells, unique ids,
  points on grade cells only, a lab's points equal to the grader's.
- When nbgrader is installed (in this environment, or the ``nbgrader`` program named by the
  ``NBGRADER`` environment variable): ``nbgrader generate_assignment`` accepts every solution
  notebook, and its student version is ``distlab labs build``'s lab, up to the stub line
  (nbgrader writes one fixed stub; distlab's stub raises with the cell's hint).

nbgrader is not in the ``test`` extra: it brings SQLAlchemy, alembic and Notebook 7, and its
JupyterLab extensions would change the JupyterLab the course runs in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from distlab.grading.notebook import BEGIN_SOLUTION, HIDDEN_TESTS

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}
NBGRADER_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("notebook", SOLUTIONS, ids=lambda p: p.stem)
def test_cells_carry_valid_nbgrader_metadata(notebook):
    from distlab.grading.parts import LABS, load_all

    load_all()
    lab = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["distlab"]["lab"]
    ids, points = set(), {}
    for cell in cells(notebook):
        source = "".join(cell["source"])
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            assert BEGIN_SOLUTION not in source and HIDDEN_TESTS not in source
            continue
        assert KEYS <= set(meta) and meta["schema_version"] == 3
        assert isinstance(meta["grade_id"], str) and re.fullmatch(r"[\w-]+", meta["grade_id"])
        assert meta["grade_id"] not in ids, f"grade_id {meta['grade_id']} twice"
        ids.add(meta["grade_id"])
        assert not (meta["solution"] and meta["locked"]), "a solution cell cannot be locked"
        assert (BEGIN_SOLUTION in source) == meta["solution"], "solution regions only in solution cells"
        if meta["solution"]:
            assert meta["grade_id"] == cell["metadata"]["distlab"]["part"]
        if meta["grade"]:
            assert meta["locked"] and cell["cell_type"] == "code" and meta["points"] > 0
            assert HIDDEN_TESTS in source and "assert check(" in source
            points[meta["grade_id"].removeprefix("check_")] = meta["points"]
        else:
            assert "points" not in meta or meta["points"] == 0
    assert points == {name: part.points for name, part in LABS[lab].parts.items()}


def nbgrader_command() -> list[str] | None:
    if os.environ.get("NBGRADER"):
        return [os.path.abspath(os.environ["NBGRADER"])]
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        return None
    return [shutil.which("nbgrader") or "nbgrader"]


def with_nbgrader_stub(source: str, solution: str = "") -> str:
    """distlab's stub lines, written as nbgrader's default stub at the same indentation (a
    ``raise NotImplementedError`` the solution itself has is given code, not a stub)."""
    given = set(solution.split("\n"))
    out = []
    for line in source.split("\n"):
        match = re.fullmatch(r"(\s*)raise NotImplementedError\((['\"]).*\2\)", line)
        out.extend([match.group(1) + stub for stub in NBGRADER_STUB] if match and line not in given else [line])
    return "\n".join(out)


def test_nbgrader_generates_the_same_labs(tmp_path):
    command = nbgrader_command()
    if command is None:
        if os.environ.get("CI"):  # make test installs it (scripts/nbgrader-venv.sh): never skipped there
            pytest.fail("nbgrader is missing: make test creates .venv-nbgrader and sets NBGRADER")
        pytest.skip("nbgrader is not installed (set NBGRADER=/path/to/nbgrader to run this)")
    from concurrent.futures import ThreadPoolExecutor

    def generate(notebook: Path) -> subprocess.CompletedProcess:
        assignment = notebook.stem.split("-")[0]
        (tmp_path / "source" / assignment).mkdir(parents=True)
        shutil.copy2(notebook, tmp_path / "source" / assignment / notebook.name)
        return subprocess.run([*command, "generate_assignment", assignment, f"--CourseDirectory.root={tmp_path}",
                               "--force", "--no-db"], cwd=tmp_path, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:  # nbgrader's start-up dominates; two at a time
        runs = dict(zip(SOLUTIONS, pool.map(generate, SOLUTIONS)))
    for notebook, run in runs.items():
        assignment = notebook.stem.split("-")[0]
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        released = cells(tmp_path / "release" / assignment / notebook.name)
        ours = cells(ROOT / "labs" / notebook.name)
        solution = {c.get("id"): "".join(c["source"]) for c in cells(notebook)}
        assert len(released) == len(ours), notebook.name
        for index, (theirs, mine) in enumerate(zip(released, ours)):
            expected = with_nbgrader_stub("".join(mine["source"]), solution.get(mine.get("id"), ""))
            assert "".join(theirs["source"]) == expected, f"{notebook.name}, cell {index}"
