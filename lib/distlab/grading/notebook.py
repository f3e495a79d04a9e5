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

Reading never trusts the file: :func:`read_notebook` opens only regular files (never through a
symbolic link, never a FIFO or device), checks the size before reading and the nesting before
parsing, and names what is wrong with a file that is not valid JSON or not a notebook. Nothing
here ever writes to a submission.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import re
import stat
from array import array
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

__all__ = [
    "NotebookError",
    "GradedCell",
    "read_notebook",
    "read_notebook_bytes",
    "parse_notebook",
    "json_nesting",
    "file_kind",
    "describe_unopened",
    "MAX_NOTEBOOK_BYTES",
    "MAX_NOTEBOOK_NESTING",
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
MAX_NOTEBOOK_NESTING = 100  # arrays and objects within each other; real notebooks use about 10


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


def file_kind(mode: int) -> str:
    """What a file is, in words, from its ``st_mode`` (as ``lstat`` gives it: links not followed)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def link_target(path: str | Path) -> str:
    """Where a symbolic link points (read, never followed); "" if it cannot be read."""
    try:
        return os.readlink(path)
    except OSError:
        return ""


def describe_unopened(path: str | Path, mode: int) -> str:
    """Why the grader does not open ``path``, whose ``lstat`` mode is ``mode``."""
    if stat.S_ISLNK(mode):
        target = link_target(path)
        to = f" (to {target})" if target else ""
        return f"{path} is a symbolic link{to}; the grader does not follow links"
    return f"{path} is {file_kind(mode)}, not a regular file; the grader does not open it"


def read_notebook_bytes(path: str | Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of a regular file, at most ``limit`` of them; a NotebookError otherwise.

    Never follows a symbolic link and never opens a FIFO, socket or device (opening some devices
    has side effects, and reading a FIFO can block forever): the file is ``lstat``-ed first,
    opened with ``O_NOFOLLOW | O_NONBLOCK``, and ``fstat``-ed again to be sure it is the same
    regular file. The size is checked before reading, and at most ``limit + 1`` bytes are read
    in case the file grows meanwhile.
    """
    try:
        before = os.lstat(path)
    except OSError as error:
        raise NotebookError(f"{path}: cannot read it: {error.strerror}") from None
    if not stat.S_ISREG(before.st_mode):
        raise NotebookError(describe_unopened(path, before.st_mode))
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:  # replaced by a link since the lstat
            raise NotebookError(f"{path} is a symbolic link; the grader does not follow links") from None
        raise NotebookError(f"{path}: cannot read it: {error.strerror}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise NotebookError(f"{path}: the file was replaced while the grader opened it; grade it again")
        if opened.st_size > limit:
            raise NotebookError(f"{path}: {opened.st_size:,} bytes is too large for a notebook "
                                f"(limit {limit:,})")
        chunks, remaining = [], limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as error:
        raise NotebookError(f"{path}: cannot read it: {error.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise NotebookError(f"{path}: more than {limit:,} bytes is too large for a notebook (it grew while read)")
    return data


# A linear scan for JSON nesting, run before json.loads (which recurses once per level):
# escapes are dropped first, so what is left of each string is "..." without inner quotes.
_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JSON_STRING = re.compile(r'"[^"]*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = bytes.maketrans(b"[]{}", bytes([1, 255, 1, 255]))  # 255 is -1 as a signed byte


def json_nesting(text: str, stop_above: int | None = None) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest (exact for valid JSON; for
    invalid JSON a number json.loads will not get to anyway). With ``stop_above``, the scan
    may stop early and return any depth above it once it has seen one."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", _JSON_ESCAPE.sub("", text)))
    steps = brackets.encode("ascii").translate(_BRACKET_STEP)
    level = deepest = 0
    for start in range(0, len(steps), 1 << 16):
        levels = list(accumulate(array("b", steps[start:start + (1 << 16)]), initial=level))
        level, deepest = levels[-1], max(deepest, max(levels))
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def parse_notebook(data: bytes, where: str = "notebook") -> dict[str, Any]:
    """A notebook from its bytes, with an error naming what is wrong with anything else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(f"{where}: not a notebook: the file is not UTF-8 text "
                            f"(byte 0x{data[error.start]:02x} at offset {error.start:,})") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    if json_nesting(text, stop_above=MAX_NOTEBOOK_NESTING) > MAX_NOTEBOOK_NESTING:
        raise NotebookError(f"{where}: not a notebook: its JSON is nested more than "
                            f"{MAX_NOTEBOOK_NESTING} levels deep")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(f"{where}: not a notebook: invalid JSON at line {error.lineno}, "
                            f"column {error.colno}: {error.msg}") from None
    except RecursionError:  # backstop: the scan above should have caught it
        raise NotebookError(f"{where}: not a notebook: its JSON is nested more than "
                            f"{MAX_NOTEBOOK_NESTING} levels deep") from None
    except ValueError as error:  # e.g. an integer with more digits than Python converts
        raise NotebookError(f"{where}: not a notebook: invalid JSON: {error}") from None
    _check_notebook_shape(notebook, where)
    return notebook


def _check_notebook_shape(notebook: Any, where: str) -> None:
    """What the rest of the grader relies on, so that no malformed notebook crashes it."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotebookError(f"{where}: not a notebook: no list of cells")
    _check_metadata(notebook, f"{where}: not a notebook: its metadata")
    for n, cell in enumerate(notebook["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(f"{where}: cell {n} is not a notebook cell")
        source = cell.get("source", "")
        if not (isinstance(source, str) or isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise NotebookError(f"{where}: cell {n}: its source is not text (a string or a list of strings)")
        _check_metadata(cell, f"{where}: cell {n}: its metadata")


def _check_metadata(holder: dict, what: str) -> None:
    meta = holder.get("metadata", {})
    if not isinstance(meta, dict):
        raise NotebookError(f"{what} is not a JSON object")
    if not isinstance(meta.get("distlab", {}), dict):
        raise NotebookError(f"{what}: \"distlab\" is not a JSON object")


def read_notebook(path: str | Path) -> dict[str, Any]:
    """Load a notebook as plain JSON, with a clear error for anything that is not one.

    Every problem with the file (a link, a FIFO or device, too large, unreadable, not UTF-8,
    not JSON, nested too deeply, not shaped like a notebook) is a :class:`NotebookError`
    whose message names the file and what is wrong with it.
    """
    return parse_notebook(read_notebook_bytes(path), where=str(path))


def lab_number(notebook: dict[str, Any]) -> int | None:
    """The lab a notebook belongs to, from its metadata (None if it does not say)."""
    meta = notebook.get("metadata", {})
    lab = meta.get("distlab", {}).get("lab") if isinstance(meta, dict) else None
    return lab if isinstance(lab, int) and not isinstance(lab, bool) else None


def _meta(cell: dict) -> dict:
    meta = cell.get("metadata", {})
    value = meta.get("distlab", {}) if isinstance(meta, dict) else {}
    return value if isinstance(value, dict) else {}


def tagged_cells(notebook: dict[str, Any]) -> dict[str, list[GradedCell]]:
    """``{part: [every code cell tagged with it, in notebook order]}``."""
    found: dict[str, list[GradedCell]] = {}
    for index, cell in enumerate(notebook["cells"]):
        part = _meta(cell).get("part")
        if cell.get("cell_type") == "code" and isinstance(part, str):
            hint = _meta(cell).get("hint", "")
            found.setdefault(part, []).append(GradedCell(part, _source(cell), hint if isinstance(hint, str) else "",
                                                         index))
    return found


def graded_cells(notebook: dict[str, Any]) -> dict[str, GradedCell]:
    """``{part: GradedCell}``: the **last** cell tagged with a part is the one graded (a copied
    cell further down replaces the original, as when the notebook is run top to bottom)."""
    return {part: cells[-1] for part, cells in tagged_cells(notebook).items()}


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
    """The learner's notebook made from a solution notebook (the input is not changed).

    As nbgrader's ``generate_assignment`` does, a hidden-test region (``### BEGIN HIDDEN
    TESTS`` to ``### END HIDDEN TESTS``) is cut out of its cell; a cell left empty goes.
    """
    lab = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(lab["cells"]):
        source = _source(cell)
        if HIDDEN_TESTS in source:
            kept, hidden = [], False
            for line in source.split("\n"):
                if line.strip() == HIDDEN_TESTS:
                    hidden = True
                elif line.strip() == "### END HIDDEN TESTS":
                    hidden = False
                elif not hidden:
                    kept.append(line)
            if hidden:
                raise NotebookError(f"{where}, cell {index}: {HIDDEN_TESTS} is never closed")
            source = "\n".join(kept).rstrip("\n")
            if not source.strip():
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
