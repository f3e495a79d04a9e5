"""Lab notebooks as data: reading them safely, finding graded cells, making stubs.

Conventions (nbgrader-style markup plus distlab cell metadata):

- the notebook's metadata holds ``{"distlab": {"lab": 5, "title": "..."}}``;
- a *setup* cell (imports, type aliases) has ``{"distlab": {"role": "setup"}}``; its code runs
  before the graded code when grading;
- a *graded* cell has ``{"distlab": {"part": "vote_order", "hint": "..."}}`` and defines the
  part's function; its body sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
- a cell whose source contains ``### BEGIN HIDDEN TESTS`` is an instructor-only cell.

:func:`make_lab` turns a solution notebook into the learner's notebook: each solution region
becomes ``raise NotImplementedError("<hint>")`` at the region's indentation, hidden-test
cells are removed and outputs are cleared. Graded cells are found by metadata, never by
position, so a learner may add or move cells.

Reading never trusts the file: :func:`read_notebook` names what is wrong with a notebook that
is not valid JSON or not a notebook, and nothing here ever writes to a submission.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "NotebookError",
    "GradedCell",
    "read_notebook",
    "lab_number",
    "graded_cells",
    "setup_code",
    "make_lab",
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "HIDDEN_TESTS",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class NotebookError(ValueError):
    """A notebook that cannot be read or does not follow the lab conventions."""


@dataclass(frozen=True)
class GradedCell:
    part: str
    source: str
    hint: str
    index: int  # position in the notebook, for messages only


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read_notebook(path: str | Path) -> dict[str, Any]:
    """Load a notebook as plain JSON, with a clear error for anything that is not one."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise NotebookError(f"{path}: cannot read it: {error.strerror}") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path}: {size:,} bytes is too large for a notebook (limit {MAX_NOTEBOOK_BYTES:,})")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise NotebookError(f"{path}: not a notebook: invalid JSON at line {error.lineno}, "
                            f"column {error.colno}: {error.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(f"{path}: not a notebook: no list of cells")
    for n, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(f"{path}: cell {n} is not a notebook cell")
    return data


def lab_number(notebook: dict[str, Any]) -> int | None:
    """The lab a notebook belongs to, from its metadata (None if it does not say)."""
    meta = notebook.get("metadata", {})
    lab = meta.get("distlab", {}).get("lab") if isinstance(meta, dict) else None
    return lab if isinstance(lab, int) and not isinstance(lab, bool) else None


def _meta(cell: dict) -> dict:
    meta = cell.get("metadata", {})
    value = meta.get("distlab", {}) if isinstance(meta, dict) else {}
    return value if isinstance(value, dict) else {}


def graded_cells(notebook: dict[str, Any]) -> dict[str, GradedCell]:
    """``{part: GradedCell}``; if a part appears twice, the last cell wins (as when re-run)."""
    found: dict[str, GradedCell] = {}
    for index, cell in enumerate(notebook["cells"]):
        part = _meta(cell).get("part")
        if cell.get("cell_type") == "code" and isinstance(part, str):
            hint = _meta(cell).get("hint", "")
            found[part] = GradedCell(part, _source(cell), hint if isinstance(hint, str) else "", index)
    return found


def setup_code(notebook: dict[str, Any]) -> str:
    """The code of the setup cells, in notebook order."""
    return "\n\n".join(_source(cell) for cell in notebook["cells"]
                       if cell.get("cell_type") == "code" and _meta(cell).get("role") == "setup")


def stub_solution(source: str, hint: str, where: str) -> str:
    """Replace every solution region of ``source`` by a ``NotImplementedError`` stub."""
    lines = source.split("\n")
    out: list[str] = []
    inside = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if inside:
                raise NotebookError(f"{where}, line {number}: {BEGIN_SOLUTION} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            message = hint or "write this part"
            out.append(f"{indent}raise NotImplementedError({message!r})")
        elif stripped == END_SOLUTION:
            if not inside:
                raise NotebookError(f"{where}, line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise NotebookError(f"{where}: {BEGIN_SOLUTION} is never closed by {END_SOLUTION}")
    return "\n".join(out)


def make_lab(solution: dict[str, Any], where: str = "notebook") -> dict[str, Any]:
    """The learner's notebook made from a solution notebook (the input is not changed)."""
    lab = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(lab["cells"]):
        source = _source(cell)
        if HIDDEN_TESTS in source:
            continue
        if cell.get("cell_type") == "code":
            if BEGIN_SOLUTION in source or END_SOLUTION in source:
                source = stub_solution(source, _meta(cell).get("hint", ""), f"{where}, cell {index}")
            cell["source"] = source.splitlines(keepends=True)
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    lab["cells"] = cells
    return lab


def dumps_notebook(notebook: dict[str, Any]) -> str:
    """Canonical JSON for a notebook (stable, so ``labs build --check`` can compare)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
